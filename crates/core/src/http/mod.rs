//! HTTP/1.1 over a byte stream: request writer, response head parser, body decoders.
pub mod body;
pub mod request;
pub mod response;
