# Where the warm pass of the allocations benchmark allocates: stops at the
# warm pass, then prints a backtrace at every malloc, realloc and calloc
# until the next pass starts. See benches/README.md.
#
#   gdb -batch -x benches/alloc-sites.gdb ALLOCATIONS-BENCH-EXECUTABLE > sites.log
set pagination off
set print frame-arguments none
set breakpoint pending on
rbreak warm_pass
run
break malloc
commands
silent
bt 30
continue
end
break realloc
commands
silent
bt 30
continue
end
break calloc
commands
silent
bt 30
continue
end
continue
