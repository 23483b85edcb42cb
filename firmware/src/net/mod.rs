//! The chip's uplinks: the Wi-Fi station (esp-radio) and the W5500 Ethernet, each creating its
//! embassy-net stack and spawning its driver's tasks. Which one the agent uses, and everything
//! above the stacks, is the body's (`picokubelet_firmware_body::net`).

pub mod ethernet;
pub mod wifi;
