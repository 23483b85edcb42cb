//! JSON: a writer into caller-owned buffers and a streaming field extractor.
pub mod capture;
pub mod extract;
pub mod writer;
