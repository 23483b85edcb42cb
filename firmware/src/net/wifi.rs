//! The Wi-Fi uplink: esp-radio station, a reconnect task, and its own embassy-net stack (DHCP).

use alloc::string::String;

use embassy_executor::{SpawnError, Spawner};
use embassy_net::{Runner, Stack, StackResources};
use embassy_time::{Duration, Timer};
use esp_hal::peripherals::WIFI;
use esp_println::println;
use esp_radio::wifi::{
    sta::StationConfig, AuthenticationMethod, Config as WifiConfig, ControllerConfig, Interface,
    WifiController, WifiError,
};
use picokubelet_core::provision::WifiCredentials;
use static_cell::StaticCell;

use picokubelet_firmware_body::{
    board_state,
    net::{Mac, STACK_SOCKETS},
};

const RECONNECT_DELAY: Duration = Duration::from_secs(5);

static RESOURCES: StaticCell<StackResources<STACK_SOCKETS>> = StaticCell::new();

/// Why the Wi-Fi uplink could not be started.
pub enum StartError {
    Radio(WifiError),
    Spawn(SpawnError),
}

// By hand: derived `Debug` is shallow here (BENCHMARKS.md "Firmware size") and would print
// `Radio` without the radio's reason.
impl core::fmt::Debug for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Radio(e) => f.debug_tuple("Radio").field(e).finish(),
            StartError::Spawn(e) => f.debug_tuple("Spawn").field(e).finish(),
        }
    }
}

/// Starts the radio as a station of `credentials` and spawns its reconnect and network tasks.
/// Call once (the stack resources are a single static).
pub fn start(
    spawner: Spawner,
    wifi: WIFI<'static>,
    credentials: WifiCredentials<'static>,
    seed: u64,
) -> Result<Stack<'static>, StartError> {
    let mut station = StationConfig::default()
        .with_ssid(credentials.ssid)
        .with_password(String::from(credentials.password));
    if credentials.password.is_empty() {
        station = station.with_auth_method(AuthenticationMethod::None);
    }
    let (controller, interfaces) = esp_radio::wifi::new(
        wifi,
        ControllerConfig::default()
            // Bounded driver buffers (~1.6 KB each, from the heap): the defaults (10 static RX,
            // up to 32 + 32 dynamic) are sized for throughput and could ask for ~118 KB at peak,
            // more than the 72 KiB heap (`HEAP_MAIN_BYTES` in main.rs). The agent's traffic is a
            // few KB per minute through one TCP socket with 4 KiB windows: at most a handful of
            // frames are in flight. Worst case here: (6 + 12 + 12) × 1.6 KB = 48 KB. The block-ack
            // window (6) stays below both limits, as esp-radio requires.
            .with_static_rx_buf_num(6)
            .with_dynamic_rx_buf_num(12)
            .with_dynamic_tx_buf_num(12)
            .with_initial_config(WifiConfig::Station(station)),
    )
    .map_err(StartError::Radio)?;
    println!(
        "Wi-Fi: station MAC {}",
        Mac(&interfaces.station.mac_address())
    );
    let (stack, runner) = embassy_net::new(
        interfaces.station,
        embassy_net::Config::dhcpv4(Default::default()),
        RESOURCES.init(StackResources::new()),
        seed,
    );
    spawner.spawn(wifi_task(controller, credentials.ssid).map_err(StartError::Spawn)?);
    spawner.spawn(net_task(runner).map_err(StartError::Spawn)?);
    Ok(stack)
}

/// Keeps the station associated: connect, log BSSID/RSSI, wait for the drop, back off, repeat.
#[embassy_executor::task]
async fn wifi_task(mut controller: WifiController<'static>, ssid: &'static str) {
    loop {
        println!("Wi-Fi: connecting to '{}'", ssid);
        match controller.connect_async().await {
            Ok(info) => {
                board_state::record_association(info.bssid);
                // `Ok(…)` spelled out: derived `Debug` (`Result`'s too) is shallow here
                // (BENCHMARKS.md "Firmware size").
                match controller.rssi() {
                    Ok(rssi) => println!(
                        "Wi-Fi: associated, BSSID {} channel {} RSSI Ok({}) dBm",
                        Mac(&info.bssid),
                        info.channel,
                        rssi
                    ),
                    Err(e) => println!(
                        "Wi-Fi: associated, BSSID {} channel {} RSSI Err({:?}) dBm",
                        Mac(&info.bssid),
                        info.channel,
                        e
                    ),
                }
                match controller.wait_for_disconnect_async().await {
                    Ok(info) => println!("Wi-Fi: disconnected, reason {:?}", info.reason),
                    Err(e) => println!("Wi-Fi: disconnect wait failed: {:?}", e),
                }
            }
            // The reason is what a user acts on; derived `Debug` would print `Disconnected` only.
            Err(WifiError::Disconnected(info)) => {
                println!(
                    "Wi-Fi: connect failed: Disconnected, reason {:?}",
                    info.reason
                )
            }
            Err(e) => println!("Wi-Fi: connect failed: {:?}", e),
        }
        board_state::record_wifi_down();
        Timer::after(RECONNECT_DELAY).await;
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Interface<'static>>) -> ! {
    runner.run().await
}
