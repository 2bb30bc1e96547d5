//! Live capture with AF_PACKET sockets (pnet), no system library needed.
//! Each worker opens its own socket in one PACKET_FANOUT group per
//! interface; the kernel hashes each flow (symmetrically, fragments
//! reassembled first) to one socket, so workers share nothing.
//!
//! This is the one module with `unsafe`: the kernel's per-socket drop
//! counter (PACKET_STATISTICS) has no safe wrapper in pnet, socket2 or libc.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{IntoRawFd, RawFd};
use std::time::Duration;

use pnet_datalink::{
    self as datalink, Channel, Config, DataLinkReceiver, FanoutOption, FanoutType,
};
use socket2::{Domain, Protocol, Socket, Type};

use super::{LinkType, Packet, Timestamp};

/// Frames up to this size are read whole (jumbo frames, and GRO
/// super-frames on a capture NIC that still has offloads on).
const READ_BUFFER: usize = 256 * 1024;

/// Why live capture could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no network interface named {0:?} (see `ip link`)")]
    NoSuchInterface(String),
    #[error(
        "capturing on {interface} needs the CAP_NET_RAW capability: run mirador as root, or grant it once with `sudo setcap cap_net_raw+ep {binary}`"
    )]
    PermissionDenied { interface: String, binary: String },
    #[error("{interface}: {source}")]
    Io {
        interface: String,
        source: io::Error,
    },
}

/// Packets the kernel handed to a socket, and those it dropped because the
/// socket's buffer was full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KernelStats {
    pub received: u64,
    pub dropped: u64,
}

/// One AF_PACKET socket on one interface, in the interface's fanout group.
pub struct AfPacketSource {
    interface: String,
    rx: Box<dyn DataLinkReceiver>,
    /// Owned by pnet's channel (closed when `rx` drops); kept to read stats.
    fd: RawFd,
    stats: KernelStats,
}

impl AfPacketSource {
    /// Opens a socket on `interface` in fanout group `group`, in
    /// promiscuous mode; reads return after at most `timeout` without traffic.
    pub fn open(
        interface: &str,
        group: u16,
        timeout: Duration,
    ) -> Result<AfPacketSource, LiveError> {
        let iface = datalink::interfaces()
            .into_iter()
            .find(|i| i.name == interface)
            .ok_or_else(|| LiveError::NoSuchInterface(interface.to_string()))?;
        let fail = |source: io::Error| match source.kind() {
            io::ErrorKind::PermissionDenied => LiveError::PermissionDenied {
                interface: interface.to_string(),
                binary: std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "mirador".into()),
            },
            _ => LiveError::Io {
                interface: interface.to_string(),
                source,
            },
        };
        let eth_p_all = (libc::ETH_P_ALL as u16).to_be();
        let socket = Socket::new(
            Domain::PACKET,
            Type::RAW,
            Some(Protocol::from(i32::from(eth_p_all))),
        )
        .map_err(fail)?;
        // A large kernel buffer absorbs bursts while a worker is busy.
        let _ = socket.set_recv_buffer_size(64 << 20);
        let fd = socket.into_raw_fd();
        let config = Config {
            read_buffer_size: READ_BUFFER,
            read_timeout: Some(timeout),
            promiscuous: true,
            linux_fanout: Some(FanoutOption {
                group_id: group,
                fanout_type: FanoutType::HASH,
                defrag: true,
                rollover: false,
            }),
            socket_fd: Some(fd),
            ..Config::default()
        };
        let rx = match datalink::channel(&iface, config).map_err(fail)? {
            Channel::Ethernet(_tx, rx) => rx,
            _ => {
                return Err(LiveError::Io {
                    interface: interface.to_string(),
                    source: io::Error::other("not an Ethernet channel"),
                });
            }
        };
        Ok(AfPacketSource {
            interface: interface.to_string(),
            rx,
            fd,
            stats: KernelStats::default(),
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The next frame, stamped with its arrival time; `None` when the read
    /// timed out.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, LiveError> {
        match self.rx.next() {
            Ok(data) => Ok(Some(Packet {
                ts: Timestamp::now(),
                link_type: LinkType::ETHERNET,
                data,
                wire_len: data.len() as u32,
            })),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(source) => Err(LiveError::Io {
                interface: self.interface.clone(),
                source,
            }),
        }
    }

    /// Kernel counters since the socket opened. Reading them resets the
    /// kernel's copy, so they are accumulated here.
    pub fn kernel_stats(&mut self) -> KernelStats {
        let mut raw = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `fd` is the open AF_PACKET socket owned by `self.rx`, which
        // lives as long as `self`; `raw` and `len` are valid for writes and
        // `len` holds the size of `raw`, as PACKET_STATISTICS expects.
        let rc = unsafe {
            libc::getsockopt(
                self.fd,
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut raw as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            // tp_packets counts every packet for the socket, drops included.
            self.stats.received += u64::from(raw.tp_packets);
            self.stats.dropped += u64::from(raw.tp_drops);
        }
        self.stats
    }
}

/// A fanout group id for `interface`, distinct per process and interface
/// (sockets may join a group only with the same device and mode).
pub fn fanout_group(interface_index: usize) -> u16 {
    let pid = std::process::id() as usize;
    ((pid.wrapping_mul(31) + interface_index * 7919) & 0xffff) as u16
}
