//! Golden tests of the join messages: `resources/request.json` and `response.json` parse and
//! emit unchanged; each `resources/request_fail/NAME.json` is refused with the line in
//! `NAME.expected`.

use std::path::Path;

use pigeonair_join::{JoinRequest, JoinResponse, RefusalKind};

fn resources() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/resources")
}

fn round_trips<T: serde::Serialize + serde::de::DeserializeOwned>(name: &str) -> T {
    let text = std::fs::read_to_string(resources().join(name)).unwrap();
    let value: T = serde_json::from_str(&text).unwrap();
    assert_eq!(
        serde_json::to_string_pretty(&value).unwrap() + "\n",
        text,
        "{name} does not emit as it parsed"
    );
    value
}

#[test]
fn a_good_request_parses_emits_and_passes_its_checks() {
    let req: JoinRequest = round_trips("request.json");
    req.check().unwrap();
}

#[test]
fn a_response_parses_and_emits_unchanged() {
    let resp: JoinResponse = round_trips("response.json");
    assert_eq!(resp.cluster.members.len(), 1);
    // Secrets never show in Debug output (logs).
    assert!(!format!("{resp:?}").contains("\"p1\""));
}

#[test]
fn each_bad_request_is_refused_with_its_line() {
    let dir = resources().join("request_fail");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let req: JoinRequest =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let want = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        let refusal = req.check().expect_err(&path.display().to_string());
        assert_eq!(refusal.kind, RefusalKind::BadRequest, "{}", path.display());
        assert_eq!(refusal.message, want.trim_end(), "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 7, "only {seen} cases in {}", dir.display());
}

#[test]
fn unknown_fields_are_refused() {
    let text = std::fs::read_to_string(resources().join("request.json")).unwrap();
    let extra = text.replacen('{', "{\n  \"admin\": true,", 1);
    let err = serde_json::from_str::<JoinRequest>(&extra).unwrap_err();
    assert!(err.to_string().contains("unknown field `admin`"), "{err}");
}
