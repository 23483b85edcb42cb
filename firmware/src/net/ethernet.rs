//! The Ethernet uplink: a W5500 on the board's SPI2 bus (embassy-net-wiznet), with its own
//! embassy-net stack (DHCP) and a task that reports the carrier to the body's `board_state`.
//!
//! Only boards whose profile has a W5500 (the Waveshare ESP32-S3-ETH) start it; the code is
//! compiled for every chip, so the S3 path is type-checked on the C6/C3 builds. Main creates
//! the start future ([`starting`]) in synchronous code under a constant condition and awaits
//! it as a boxed `dyn Future`, so on boards without a W5500 none of it is linked (awaiting the
//! concrete future inside main would keep the driver in main's state machine).

use alloc::boxed::Box;
use core::{convert::Infallible, future::Future, pin::Pin};

use embassy_executor::{SpawnError, Spawner};
use embassy_net::{Runner, Stack, StackResources};
use embassy_net_wiznet::{chip::W5500, Device, InitError, State};
use embassy_time::Delay;
use embedded_hal_bus::spi::{DeviceError, ExclusiveDevice};
use esp_hal::{
    gpio::{Input, Output},
    peripherals::SPI2,
    spi::{master::ConfigError as SpiConfigError, master::Spi, Error as SpiError},
    Async,
};
use esp_println::println;
use static_cell::{ConstStaticCell, StaticCell};

use picokubelet_firmware_body::{
    board_state,
    net::{Mac, STACK_SOCKETS},
};

use crate::board;

/// Receive and transmit queues of the driver, in 1514-byte frames: 4 × 1514 B ≈ 6 KiB of RAM.
/// A frame arriving while both receive slots are full waits in the W5500's own 16 KiB buffer.
const RX_FRAMES: usize = 2;
const TX_FRAMES: usize = 2;

/// SPI2 plus the chip-select line as one `SpiDevice`; the W5500 is the bus's only device.
type W5500Spi = ExclusiveDevice<Spi<'static, Async>, Output<'static>, Delay>;
type ChipRunner =
    embassy_net_wiznet::Runner<'static, W5500, W5500Spi, Input<'static>, Output<'static>>;

static DRIVER_STATE: ConstStaticCell<State<RX_FRAMES, TX_FRAMES>> =
    ConstStaticCell::new(State::new());
static RESOURCES: StaticCell<StackResources<STACK_SOCKETS>> = StaticCell::new();

/// Why the Ethernet uplink could not be started.
#[derive(Debug)]
#[allow(dead_code, reason = "read through Debug when main logs it")]
pub enum StartError {
    /// The profile's SPI settings were refused.
    Spi(SpiConfigError),
    /// The chip did not answer as a W5500 (absent, unpowered, miswired).
    Chip(InitError<DeviceError<SpiError, Infallible>>),
    Spawn(SpawnError),
}

/// What main awaits to bring Ethernet up: the stack, or `None` when the W5500 is not usable.
/// Boxed (a few hundred bytes of heap, once) so that main's state machine holds only a
/// `dyn Future`, not the driver's future type.
pub type Starting = Pin<Box<dyn Future<Output = Option<Stack<'static>>>>>;

/// The W5500 start as a [`Starting`] (not yet polled); logs its outcome when awaited.
pub fn starting(
    spawner: Spawner,
    spi2: SPI2<'static>,
    pins: board::W5500Pins,
    mac: [u8; 6],
    seed: u64,
) -> Starting {
    Box::pin(async move {
        match start(spawner, spi2, &pins, mac, seed).await {
            Ok(stack) => {
                println!("Ethernet: W5500 ready, MAC {}", Mac(&mac));
                Some(stack)
            }
            Err(e) => {
                println!("Ethernet: W5500 unavailable: {:?}", e);
                None
            }
        }
    })
}

/// Resets and initialises the W5500 with `mac`, creates its stack and spawns its tasks. Call
/// once (driver state and stack resources are single statics).
async fn start(
    spawner: Spawner,
    spi2: SPI2<'static>,
    pins: &board::W5500Pins,
    mac: [u8; 6],
    seed: u64,
) -> Result<Stack<'static>, StartError> {
    let io = board::w5500_io(spi2, pins).map_err(StartError::Spi)?;
    let spi = match ExclusiveDevice::new(io.spi.into_async(), io.cs, Delay) {
        Ok(device) => device,
        Err(never) => match never {},
    };
    let (device, chip_runner) = embassy_net_wiznet::new::<RX_FRAMES, TX_FRAMES, W5500, _, _, _>(
        mac,
        DRIVER_STATE.take(),
        spi,
        io.int,
        io.rst,
    )
    .await
    .map_err(StartError::Chip)?;
    let (stack, net_runner) = embassy_net::new(
        device,
        embassy_net::Config::dhcpv4(Default::default()),
        RESOURCES.init(StackResources::new()),
        seed,
    );
    spawner.spawn(chip_task(chip_runner).map_err(StartError::Spawn)?);
    spawner.spawn(net_task(net_runner).map_err(StartError::Spawn)?);
    spawner.spawn(link_task(stack).map_err(StartError::Spawn)?);
    Ok(stack)
}

#[embassy_executor::task]
async fn chip_task(runner: ChipRunner) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Device<'static>>) -> ! {
    runner.run().await
}

/// Mirrors the carrier (polled by the driver every 500 ms) into the board state.
#[embassy_executor::task]
async fn link_task(stack: Stack<'static>) -> ! {
    loop {
        stack.wait_link_up().await;
        println!("Ethernet: link up");
        board_state::record_ethernet_link(true);
        stack.wait_link_down().await;
        println!("Ethernet: link down");
        board_state::record_ethernet_link(false);
    }
}
