//! Label selectors as `kubectl get -l` sends them: `k=v`, `k==v`, `k!=v`, `k` (exists) and `!k`
//! (absent), comma-separated, all of which must hold. Set-based terms (`k in (a,b)`) are refused.

use serde_json::Value;

enum Term {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

/// A parsed `labelSelector`.
pub(super) struct LabelSelector(Vec<Term>);

impl LabelSelector {
    /// Parses a selector; the error names the term that is not understood.
    pub(super) fn parse(selector: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for raw in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let term = if let Some((k, v)) = raw.split_once("!=") {
                Term::NotEquals(k.trim().to_string(), v.trim().to_string())
            } else if let Some((k, v)) = raw.split_once('=') {
                Term::Equals(
                    k.trim().to_string(),
                    v.trim_start_matches('=').trim().to_string(),
                )
            } else if let Some(k) = raw.strip_prefix('!') {
                Term::Absent(k.trim().to_string())
            } else {
                Term::Exists(raw.to_string())
            };
            let key = match &term {
                Term::Equals(k, _) | Term::NotEquals(k, _) | Term::Exists(k) | Term::Absent(k) => k,
            };
            if key.is_empty() || key.contains(|c: char| c.is_whitespace() || "()!".contains(c)) {
                return Err(format!("unable to parse requirement: {raw:?}"));
            }
            terms.push(term);
        }
        Ok(LabelSelector(terms))
    }

    /// Whether an object's `metadata.labels` satisfy every term.
    pub(super) fn matches(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|term| match term {
            Term::Equals(k, v) => get(k) == Some(v.as_str()),
            Term::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Term::Exists(k) => get(k).is_some(),
            Term::Absent(k) => get(k).is_none(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terms_combine_with_and() {
        let labels = json!({"a": "b", "kubernetes.io/os": "none"});
        let yes = |s: &str| LabelSelector::parse(s).map(|l| l.matches(&labels));
        assert_eq!(yes("a=b"), Ok(true));
        assert_eq!(yes("a==b,kubernetes.io/os=none"), Ok(true));
        assert_eq!(yes("a!=b"), Ok(false));
        assert_eq!(yes("c!=d"), Ok(true));
        assert_eq!(yes("a,!c"), Ok(true));
        assert_eq!(yes("!a"), Ok(false));
        assert_eq!(yes(""), Ok(true));
        assert!(yes("a in (b,c)").is_err());
    }
}
