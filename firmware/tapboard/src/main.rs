//! picokubelet-tapboard: the firmware's body (`firmware/body`) as a Linux board. embassy's
//! executor on a std thread, embassy-time's std driver, embassy-net over TAP devices (one as
//! the Ethernet uplink, one standing in for Wi-Fi), the flash from a file, the heap counted.
//! The bring-up is the chip image's (`firmware/src/main.rs`), with Linux drivers:
//! watchdog → LED → configuration → uplinks → agent.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use embassy_executor::{Executor, Spawner};
use embassy_net::{Runner, Stack, StackResources};
use embassy_time::Timer;
use picokubelet_core::{k8s::chip::Chip, led::Rgb};
use picokubelet_firmware_body::{
    board_state,
    bringup::{self, Boot},
    config::BuildDefaults,
    led::{self, PixelSink},
    net::{ethernet_mac, uplink::Uplinks, Mac, STACK_SOCKETS},
    watchdog::{self, Watchdog},
};
use picokubelet_tapboard::{
    args::{self, Args, DEFAULT_MAC},
    flash::FlashImage,
    heap::{CountedHeap, CountingAllocator},
    tap::TapDevice,
};
use rand_core::{OsRng, RngCore};
use static_cell::StaticCell;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

/// Exit status of a watchdog "reset": the executor stopped feeding for [`watchdog::TIMEOUT`].
const WATCHDOG_EXIT: u8 = 3;
/// How often the heap figures are printed, unless `--heap-report-secs` says otherwise.
const HEAP_REPORT_SECS: u64 = 60;
/// A pseudo-BSSID for the "Wi-Fi" TAP's associations (there is one access point).
const TAP_BSSID: [u8; 6] = [0x02, 0x70, 0x6b, 0xa9, 0x00, 0x01];

static ETHERNET_RESOURCES: StaticCell<StackResources<STACK_SOCKETS>> = StaticCell::new();
static WIFI_RESOURCES: StaticCell<StackResources<STACK_SOCKETS>> = StaticCell::new();
static EXECUTOR: StaticCell<Executor> = StaticCell::new();

/// Milliseconds since start of the last feed (the software watchdog's counter).
static LAST_FEED_MS: AtomicU64 = AtomicU64::new(0);

/// What `main` hands the executor.
struct Setup {
    args: Args,
    flash: FlashImage,
    defaults: BuildDefaults,
    started: Instant,
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let flash = match args.flash_image() {
        Ok(flash) => flash,
        Err(message) => {
            eprintln!("picokubelet-tapboard: the flash: {message}");
            return ExitCode::from(2);
        }
    };
    let defaults = match args::defaults(|name| std::env::var(name).ok()) {
        Ok(defaults) => defaults,
        Err(message) => {
            eprintln!("picokubelet-tapboard: the defaults: {message}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    start_watchdog(started);
    let setup = Setup {
        args,
        flash,
        defaults,
        started,
    };
    EXECUTOR.init(Executor::new()).run(move |spawner| {
        spawner.spawn(board_main(spawner, setup).expect("board_main spawned once"));
    })
}

/// The hardware watchdog's part: a thread that "resets" (exits) the board when the executor
/// has not fed it for [`watchdog::TIMEOUT`]. The feeding rule is the body's.
fn start_watchdog(started: Instant) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(500));
        let now_ms = elapsed_ms(started);
        let fed_ms = LAST_FEED_MS.load(Ordering::Relaxed);
        let starved = Duration::from_millis(now_ms.saturating_sub(fed_ms));
        if starved > watchdog::TIMEOUT {
            println!(
                "watchdog: not fed for {} ms (the executor stopped running tasks): reset",
                starved.as_millis()
            );
            std::process::exit(i32::from(WATCHDOG_EXIT));
        }
    });
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The body's watchdog: a timestamp the watchdog thread reads.
struct SoftWatchdog {
    started: Instant,
}

impl Watchdog for SoftWatchdog {
    fn feed(&mut self) {
        LAST_FEED_MS.store(elapsed_ms(self.started), Ordering::Relaxed);
    }
}

/// The pixel: no LED on Linux, so the colour goes nowhere (printing 50 frames/s would drown the
/// log); the LED's inputs are the board state's, which the log shows.
struct NoPixel;

impl PixelSink for NoPixel {
    type Error = core::convert::Infallible;

    async fn show(&mut self, _colour: Rgb) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[embassy_executor::task]
async fn watchdog_task(started: Instant) -> ! {
    watchdog::feed_forever(SoftWatchdog { started }).await
}

#[embassy_executor::task]
async fn led_task() -> ! {
    led::run(NoPixel).await
}

#[embassy_executor::task(pool_size = 2)]
async fn net_task(mut runner: Runner<'static, TapDevice>) -> ! {
    runner.run().await
}

/// The Ethernet TAP's carrier into the board state (the W5500 link task's job on a chip).
#[embassy_executor::task]
async fn ethernet_link_task(stack: Stack<'static>) -> ! {
    loop {
        stack.wait_link_up().await;
        println!("Ethernet: link up");
        board_state::record_ethernet_link(true);
        stack.wait_link_down().await;
        println!("Ethernet: link down");
        board_state::record_ethernet_link(false);
    }
}

/// The "Wi-Fi" TAP's carrier as associations (the esp-radio station task's job on a chip).
#[embassy_executor::task]
async fn wifi_link_task(stack: Stack<'static>) -> ! {
    loop {
        stack.wait_link_up().await;
        println!("Wi-Fi: associated, BSSID {}", Mac(&TAP_BSSID));
        board_state::record_association(TAP_BSSID);
        stack.wait_link_down().await;
        println!("Wi-Fi: disconnected");
        board_state::record_wifi_down();
    }
}

#[embassy_executor::task]
async fn heap_report_task(every_secs: u64) -> ! {
    loop {
        Timer::after(embassy_time::Duration::from_secs(every_secs)).await;
        println!(
            "tapboard: heap {} B in use, peak {} B",
            ALLOCATOR.in_use(),
            ALLOCATOR.peak()
        );
    }
}

/// The harness's watchdog fault: blocks the executor's only thread (as a driver spinning in a
/// busy loop would), so no task runs and the feeder starves.
#[embassy_executor::task]
async fn starve_task(after_secs: u64) {
    Timer::after(embassy_time::Duration::from_secs(after_secs)).await;
    println!("tapboard: starving the executor (--starve-after-secs)");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Opens the TAP `name` and makes its stack; spawns its runner.
fn uplink(
    spawner: Spawner,
    name: &str,
    mac: [u8; 6],
    resources: &'static StaticCell<StackResources<STACK_SOCKETS>>,
    seed: u64,
) -> Option<Stack<'static>> {
    let device = match TapDevice::open(name, mac) {
        Ok(device) => device,
        Err(e) => {
            println!("{name}: cannot attach to the TAP device: {e}");
            return None;
        }
    };
    println!("{name}: TAP attached, MAC {}", Mac(&mac));
    let (stack, runner) = embassy_net::new(
        device,
        embassy_net::Config::dhcpv4(Default::default()),
        resources.init(StackResources::new()),
        seed,
    );
    spawner.spawn(net_task(runner).expect("two net tasks at most"));
    Some(stack)
}

#[embassy_executor::task]
async fn board_main(spawner: Spawner, setup: Setup) -> ! {
    let Setup {
        args,
        mut flash,
        defaults,
        started,
    } = setup;
    let built_for = args.profile.unwrap_or(Chip::Esp32c6);
    println!(
        "picokubelet tapboard {} as {} (the firmware body on Linux)",
        env!("CARGO_PKG_VERSION"),
        built_for.name()
    );
    spawner.spawn(watchdog_task(started).expect("watchdog_task spawned once"));
    spawner.spawn(led_task().expect("led_task spawned once"));
    let report_secs = args.heap_report_secs.unwrap_or(HEAP_REPORT_SECS);
    spawner.spawn(heap_report_task(report_secs).expect("heap_report_task spawned once"));
    if let Some(after_secs) = args.starve_after_secs {
        spawner.spawn(starve_task(after_secs).expect("starve_task spawned once"));
    }

    let settings = bringup::configuration(&mut flash, &defaults, built_for).await;
    let mac = args.mac.unwrap_or(DEFAULT_MAC);
    println!("base MAC {}", Mac(&mac));
    let seed = OsRng.next_u64();
    board_state::record_network_starting();

    let ethernet = args.ethernet.as_deref().and_then(|name| {
        let stack = uplink(
            spawner,
            name,
            ethernet_mac(mac),
            &ETHERNET_RESOURCES,
            seed ^ 1,
        )?;
        spawner.spawn(ethernet_link_task(stack).expect("one Ethernet"));
        Some(stack)
    });
    let wifi = match (settings.record.wifi, args.wifi.as_deref()) {
        (Some(credentials), Some(name)) => {
            println!("Wi-Fi: '{}' on TAP {name}", credentials.ssid);
            uplink(spawner, name, mac, &WIFI_RESOURCES, seed).inspect(|&stack| {
                spawner.spawn(wifi_link_task(stack).expect("one Wi-Fi"));
            })
        }
        (None, _) => {
            println!("Wi-Fi: no credentials configured");
            None
        }
        (Some(_), None) => {
            println!("Wi-Fi: configured, but no --wifi TAP given");
            None
        }
    };
    let uplinks = Uplinks { ethernet, wifi };
    bringup::require_uplink(&uplinks, settings.record.wifi.is_some()).await;

    let mut boot_random = [0u8; 16];
    OsRng.fill_bytes(&mut boot_random);
    // The flash image and the TAP buffers above are not the chip's heap.
    ALLOCATOR.count_from_here();
    bringup::run(Boot {
        settings,
        uplinks,
        mac,
        boot_random,
        rng: OsRng,
        heap: CountedHeap(&ALLOCATOR),
        built_for,
        flash,
    })
    .await
}
