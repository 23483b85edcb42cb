#![no_main]
//! Streaming JSON extractor and the typed Kubernetes readers on top of it: arbitrary bytes, fed
//! in pieces whose size comes from the input, must give the same verdict and the same extracted
//! fields as feeding the body whole — and never panic.
use libfuzzer_sys::fuzz_target;
use picokubelet_core::json::extract::{Extractor, Visitor};
use picokubelet_core::k8s::response::{
    LeaseResponse, NodeResponse, StatusResponse, VersionResponse,
};

#[derive(Default, Clone, PartialEq, Debug)]
struct All {
    node: NodeResponse,
    lease: LeaseResponse,
    status: StatusResponse,
    version: VersionResponse,
}

impl Visitor for All {
    fn value(
        &mut self,
        path: &picokubelet_core::json::extract::Path,
        value: picokubelet_core::json::extract::Scalar<'_>,
    ) {
        self.node.value(path, value);
        self.lease.value(path, value);
        self.status.value(path, value);
        self.version.value(path, value);
    }
}

fn run(
    body: &[u8],
    piece: usize,
) -> (
    Result<(), picokubelet_core::json::extract::ExtractError>,
    All,
) {
    let mut ex = Extractor::<256>::new();
    let mut all = All::default();
    for chunk in body.chunks(piece) {
        if let Err(e) = ex.feed(chunk, &mut all) {
            return (Err(e), all);
        }
    }
    let r = ex.finish(&mut all);
    (r, all)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let (whole_verdict, whole) = run(body, body.len().max(1));
    let (piece_verdict, pieces) = run(body, usize::from(sel % 17) + 1);
    assert_eq!(whole_verdict.is_ok(), piece_verdict.is_ok());
    if whole_verdict.is_ok() {
        assert_eq!(whole, pieces);
    }
});
