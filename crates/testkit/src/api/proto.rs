//! The little protobuf the server reads: a CertificateSigningRequest's `status.conditions` in an
//! `application/vnd.kubernetes.protobuf` body (`k8s\0` + runtime.Unknown{raw}), which kubectl's
//! typed client sends for `kubectl certificate approve`. Field numbers from k8s.io/api's
//! generated.proto: Unknown.raw = 2; CSR.status = 3; status.conditions = 1; condition type = 1,
//! reason = 2, message = 3, status = 6.

use serde_json::{json, Value};

/// The body's CSR as JSON with only `status.conditions` (type, status, reason, message), or
/// `None` when it is not such a protobuf message.
pub(super) fn csr_conditions(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(b"k8s\0")?;
    let raw = fields(unknown, 2).next()?;
    let conditions: Vec<Value> = fields(raw, 3)
        .flat_map(|status| fields(status, 1))
        .map(|c| {
            let text = |n| {
                fields(c, n)
                    .next()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default()
            };
            json!({"type": text(1), "status": text(6), "reason": text(2), "message": text(3)})
        })
        .collect();
    Some(json!({"status": {"conditions": conditions}}))
}

/// The length-delimited fields numbered `number` of a message (others skipped; a malformed
/// message ends the iteration).
fn fields(mut msg: &[u8], number: u64) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || loop {
        let key = varint(&mut msg)?;
        let value: &[u8] = match key & 7 {
            0 => {
                varint(&mut msg)?;
                continue;
            }
            1 => take(&mut msg, 8)?,
            2 => {
                let len = usize::try_from(varint(&mut msg)?).ok()?;
                take(&mut msg, len)?
            }
            5 => take(&mut msg, 4)?,
            _ => return None,
        };
        if key >> 3 == number && key & 7 == 2 {
            return Some(value);
        }
    })
}

fn take<'a>(msg: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if msg.len() < n {
        return None;
    }
    let (head, rest) = msg.split_at(n);
    *msg = rest;
    Some(head)
}

fn varint(msg: &mut &[u8]) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = msg.split_first()?;
        *msg = rest;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn reads_the_conditions_and_survives_garbage() {
        let condition = [
            field(1, b"Approved"),
            field(2, b"KubectlApprove"),
            field(3, b"ok"),
            field(6, b"True"),
        ]
        .concat();
        let status = field(1, &condition);
        let csr = [vec![0x08, 0x96, 0x01], field(3, &status)].concat();
        let body = [b"k8s\0".to_vec(), field(2, &csr)].concat();
        assert_eq!(
            csr_conditions(&body).unwrap(),
            json!({"status": {"conditions": [{"type": "Approved", "status": "True",
                "reason": "KubectlApprove", "message": "ok"}]}})
        );
        for cut in 0..body.len() {
            let _ = csr_conditions(&body[..cut]);
        }
        assert!(csr_conditions(b"{}").is_none());
        assert!(csr_conditions(b"k8s\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff").is_none());
    }
}
