# tshark -V text of ReadProperty-ACK frames -> frame, property, value
BEGIN { print "frame\tproperty\tvalue" }
/^Frame [0-9]+:/ { f=$2; sub(":", "", f) }
/^    (vendor-name|model-name|firmware-revision|application-software-version|description|location): / { p=$1; sub(":", "", p); v=$0; sub(/^[^']*'/, "", v); sub(/'$/, "", v); print f "\t" p "\t" v }
/^        Object Name: / { v=$0; sub(/^        Object Name: /, "", v); print f "\tobject-name\t" v }
/^    vendor-identifier: \(Unsigned\) / { print f "\tvendor-identifier\t" $NF }
