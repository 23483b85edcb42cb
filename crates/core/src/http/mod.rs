//! HTTP/1.1 over a byte stream, sans-I/O: request head writer, response head parser, body
//! framing decoder, and a reader combining the last two for one exchange.
pub mod body;
pub mod reader;
pub mod request;
pub mod response;
