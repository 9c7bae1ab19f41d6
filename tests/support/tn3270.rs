//! The TN3270 harness: real TN3270 parts to put behind attls, and a real client.
//!
//! - [`Hercules`]: the Hercules emulator, unmodified, as a plaintext TN3270 server. Nothing is IPLed;
//!   its console port (`CNSLPORT`) gives a traditional TN3270 client (TERMINAL-TYPE, EOR, BINARY) a
//!   3270 device and shows the Hercules logo screen.
//! - [`Tn3270eServer`]: a TN3270E server written here (RFC 2355 DEVICE-TYPE and FUNCTIONS, falling
//!   back to RFC 1576 when the client refuses TN3270E) that sends one 3270 screen with
//!   [`server::SCREEN_TEXT`] and records what each client negotiated.
//! - [`S3270`]: the s3270 scripting emulator, run with a script on stdin and bounded by a timeout,
//!   returning the screen and the connection state (`connected-tn3270e`, TLS or not).
//! - [`Front`]: attls's START_TLS negotiator over blocking sockets with rustls, in front of the
//!   TN3270E server's session logic: the core proved against real clients before the engine uses it.
//!
//! Each process gets a temporary directory and is killed (its whole process group) on drop; logs
//! are printed when the test failed.

pub mod front;
pub mod hercules;
pub mod s3270;
pub mod server;

pub use front::Front;
pub use hercules::Hercules;
pub use s3270::{S3270, WaitFor};
pub use server::{Mode, Tn3270eServer};
