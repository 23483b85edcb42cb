//! A Linux TAP device as an embassy-net driver: the tap board's network interface (one for the
//! Ethernet uplink, one standing in for Wi-Fi). Frames go through fixed buffers (as on a chip:
//! the driver's RAM is not heap), readiness comes from async-io's reactor, and the link state
//! is the TAP interface's: up when it is administratively up and has its carrier
//! (`ip link set dev TAP down` pulls the "cable"), looked at every [`LINK_POLL`]. Frames the
//! stack sends before it has been told the link is up are dropped, as a chip's MAC drops them
//! without a link: embassy-net polls its interface before it reads the link state, so on the
//! first poll the DHCP client's DISCOVER went out, then the link-up reset sent a second one
//! with a new transaction id (two DISCOVERs per boot on the wire, where a board sends one).
//!
//! embassy-net-tuntap 0.1 would do the same but panics on any read or write error (a TAP
//! that is down refuses writes) and always reports the link up.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use async_io::{Async, Timer};
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};

/// Ethernet frame without FCS at the usual 1500-byte IP MTU.
pub const FRAME_BYTES: usize = 1514;
/// How often the interface flags are read for the link state.
pub const LINK_POLL: Duration = Duration::from_millis(250);

/// The open `/dev/net/tun` queue of one TAP interface.
struct TapFd(OwnedFd);

impl AsFd for TapFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// A TAP interface (created if it does not exist) as the board's network interface.
pub struct TapDevice {
    name: String,
    fd: Async<TapFd>,
    /// For SIOCGIFFLAGS (any socket can ask).
    control: OwnedFd,
    mac: [u8; 6],
    rx: Box<[u8; FRAME_BYTES]>,
    tx: Box<[u8; FRAME_BYTES]>,
    link_poll: Timer,
    /// The link state last reported to the stack; frames are sent only while it is up.
    reported_up: bool,
    /// Frames lost: written while the interface was down or its queue full, or a read error.
    pub dropped: u64,
    /// The last I/O error, printed once per kind of trouble.
    last_error: Option<io::ErrorKind>,
}

fn ifreq_named(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.is_empty() || name.len() >= ifr.ifr_name.len() || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name '{name}' is not 1..=15 bytes"),
        ));
    }
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(ifr)
}

impl TapDevice {
    /// Attaches to the TAP interface `name` with the board's `mac`. Needs CAP_NET_ADMIN (or a
    /// TAP created for this user) and `/dev/net/tun`.
    pub fn open(name: &str, mac: [u8; 6]) -> io::Result<TapDevice> {
        let mut ifr = ifreq_named(name)?;
        // SAFETY: a plain open(2) of a path literal; the result is checked.
        let raw = unsafe {
            libc::open(
                c"/dev/net/tun".as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads an ifreq; `ifr` lives across the call.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut ifr) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a plain socket(2); the result is checked.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        let control = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(TapDevice {
            name: name.to_owned(),
            fd: Async::new(TapFd(fd))?,
            control,
            mac,
            rx: Box::new([0; FRAME_BYTES]),
            tx: Box::new([0; FRAME_BYTES]),
            link_poll: Timer::after(LINK_POLL),
            reported_up: false,
            dropped: 0,
            last_error: None,
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Up and running (carrier), as `ip link` shows `UP,LOWER_UP`.
    pub fn link_up(&self) -> io::Result<bool> {
        let mut ifr = ifreq_named(&self.name)?;
        // SAFETY: SIOCGIFFLAGS fills the flags of `ifr`, which lives across the call.
        if unsafe { libc::ioctl(self.control.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: SIOCGIFFLAGS wrote the flags member.
        let flags = i32::from(unsafe { ifr.ifr_ifru.ifru_flags });
        Ok(flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0)
    }

    fn note_error(&mut self, what: &str, error: &io::Error) {
        if self.last_error != Some(error.kind()) {
            println!(
                "{}: {what} failed: {error} (frames are dropped meanwhile)",
                self.name
            );
            self.last_error = Some(error.kind());
        }
    }
}

/// One received frame.
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Room for one frame to send.
pub struct TxToken<'a> {
    fd: &'a Async<TapFd>,
    buffer: &'a mut [u8; FRAME_BYTES],
    dropped: &'a mut u64,
    /// The stack has seen the link up: otherwise the frame is dropped unsent.
    link_up: bool,
}

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(FRAME_BYTES);
        let frame = &mut self.buffer[..len];
        let result = f(frame);
        if !self.link_up {
            *self.dropped += 1;
            return result;
        }
        // SAFETY: write(2) of `len` initialised bytes to our own descriptor.
        let written = unsafe {
            libc::write(
                self.fd.get_ref().0.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
            )
        };
        // A down interface (EIO) or a full queue (EAGAIN) loses the frame, as a pulled cable
        // or a congested link would; TCP and DHCP retransmit.
        if written < 0 {
            *self.dropped += 1;
        }
        result
    }
}

impl Driver for TapDevice {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(RxToken<'_>, TxToken<'_>)> {
        loop {
            // SAFETY: read(2) into our own buffer of FRAME_BYTES.
            let read = unsafe {
                libc::read(
                    self.fd.get_ref().0.as_raw_fd(),
                    self.rx.as_mut_ptr().cast(),
                    FRAME_BYTES,
                )
            };
            if read >= 0 {
                let len = usize::try_from(read).unwrap_or(0).min(FRAME_BYTES);
                self.last_error = None;
                return Some((
                    RxToken {
                        frame: &mut self.rx[..len],
                    },
                    TxToken {
                        fd: &self.fd,
                        buffer: &mut self.tx,
                        dropped: &mut self.dropped,
                        link_up: self.reported_up,
                    },
                ));
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::WouldBlock {
                self.note_error("read", &error);
                self.dropped += 1;
                return None;
            }
            if self.fd.poll_readable(cx).is_pending() {
                return None;
            }
        }
    }

    fn transmit(&mut self, _cx: &mut Context) -> Option<TxToken<'_>> {
        Some(TxToken {
            fd: &self.fd,
            buffer: &mut self.tx,
            dropped: &mut self.dropped,
            link_up: self.reported_up,
        })
    }

    fn link_state(&mut self, cx: &mut Context) -> LinkState {
        // Re-armed on every expiry, so the stack looks again every LINK_POLL.
        while Pin::new(&mut self.link_poll).poll(cx).is_ready() {
            self.link_poll.set_after(LINK_POLL);
        }
        let up = match self.link_up() {
            Ok(up) => up,
            Err(error) => {
                self.note_error("reading the link state", &error);
                false
            }
        };
        self.reported_up = up;
        if up {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = FRAME_BYTES;
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}
