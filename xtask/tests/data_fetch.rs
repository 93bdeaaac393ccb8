//! `cargo xtask data fetch` and `data check` against a local HTTP server and generated
//! files. Nothing here touches the network beyond 127.0.0.1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// Serves `routes` (path -> body) over HTTP/1.1 on an ephemeral port; anything else is
/// a 404. Returns the base URL. The thread lives until the test process ends.
fn serve(routes: HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = Arc::new(routes);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Drain the headers up to the blank line.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = match routes.get(path) {
                Some(body) => ("200 OK", body.as_slice()),
                None => ("404 Not Found", &b"not found"[..]),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    format!("http://{addr}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Writes a manifest for one file holding `bytes`. Without an `obtain` key in `extra`
/// the file gets an upstream URL, which makes the dataset fetchable.
fn write_manifest(dir: &Path, name: &str, rel: &str, bytes: &[u8], extra: &str) {
    let url = if extra.contains("obtain") {
        String::new()
    } else {
        format!("url = \"https://example.invalid/{rel}\"")
    };
    let text = format!(
        r#"
name = "{name}"
format = "npz"
description = "generated"
license = "MIT"
citation = "none"
protocol = "none"
{extra}

[source]
repo = "owner/repo"

[[files]]
path = "{rel}"
format = "npz"
sha256 = "{}"
size = {}
{url}
"#,
        sha256_hex(bytes),
        bytes.len()
    );
    let file = dir.join(format!("{}.toml", name.replace('/', "_")));
    std::fs::write(file, text).unwrap();
}

fn xtask(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args).env_remove("SSAD_DATA_DIR");
    // A proxy from the environment must not intercept requests to 127.0.0.1.
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file name under `dir`, recursively, relative to it.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

struct Fixture {
    manifests: tempfile::TempDir,
    data: tempfile::TempDir,
    base_url: String,
    good: Vec<u8>,
}

fn fixture() -> Fixture {
    let manifests = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    // Bigger than one read chunk, so streaming is exercised.
    let good: Vec<u8> = (0..2_500_000u32).map(|i| (i % 241) as u8).collect();
    let mut corrupt = good.clone();
    corrupt[1_234_567] ^= 0x40;
    write_manifest(manifests.path(), "t/good", "t/good.npz", &good, "");
    // The manifest describes `good`, the server sends `corrupt`.
    write_manifest(manifests.path(), "t/corrupt", "t/corrupt.npz", &good, "");
    write_manifest(
        manifests.path(),
        "t/absent",
        "t/absent.npz",
        b"never served",
        "",
    );
    let routes = HashMap::from([
        ("/t/good.npz".to_string(), good.clone()),
        ("/t/corrupt.npz".to_string(), corrupt),
    ]);
    Fixture {
        base_url: serve(routes),
        manifests,
        data,
        good,
    }
}

impl Fixture {
    fn fetch(&self, name: &str) -> Output {
        xtask(&[
            "data",
            "fetch",
            name,
            "--data-dir",
            self.data.path().to_str().unwrap(),
            "--manifests",
            self.manifests.path().to_str().unwrap(),
            "--base-url",
            &self.base_url,
        ])
    }
}

#[test]
fn fetch_downloads_verifies_and_never_leaves_bad_files() {
    let f = fixture();

    let out = f.fetch("t/good");
    assert!(out.status.success(), "{}", text(&out));
    let dest = f.data.path().join("t").join("good.npz");
    assert_eq!(std::fs::read(&dest).unwrap(), f.good);
    assert!(text(&out).contains("fetched"), "{}", text(&out));

    // Fetching again keeps the good file and says so.
    let out = f.fetch("t/good");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("already present"), "{}", text(&out));

    let out = f.fetch("t/corrupt");
    assert!(!out.status.success());
    assert!(text(&out).contains("sha256 mismatch"), "{}", text(&out));
    assert!(!f.data.path().join("t").join("corrupt.npz").exists());

    let out = f.fetch("t/absent");
    assert!(!out.status.success());
    assert!(text(&out).contains("404"), "{}", text(&out));
    assert!(!f.data.path().join("t").join("absent.npz").exists());

    // No partial or temporary file anywhere: only the one good download.
    assert_eq!(listing(f.data.path()), vec![PathBuf::from("t/good.npz")]);

    let out = f.fetch("t/unknown");
    assert!(!out.status.success());
    assert!(text(&out).contains("t/good"), "{}", text(&out));
}

#[test]
fn fetch_refuses_to_replace_a_corrupt_file() {
    let f = fixture();
    let dest = f.data.path().join("t").join("good.npz");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(&dest, b"local edits").unwrap();
    let out = f.fetch("t/good");
    assert!(!out.status.success());
    assert!(text(&out).contains("remove it"), "{}", text(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), b"local edits");
}

#[test]
fn fetch_without_url_explains_how_to_obtain() {
    let manifests = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_manifest(
        manifests.path(),
        "pkg",
        "pkg/a.gz",
        b"a",
        "obtain = \"apt-get install -y the-package\"",
    );
    let out = xtask(&[
        "data",
        "fetch",
        "pkg",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--manifests",
        manifests.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("apt-get install -y the-package"),
        "{}",
        text(&out)
    );
}

#[test]
fn check_fails_on_missing_required_or_corrupt_and_skips_missing_optional() {
    let manifests = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_manifest(
        manifests.path(),
        "opt",
        "opt/x.npz",
        b"x",
        "optional = true\nobtain = \"install the opt package\"",
    );
    let check = |names: &[&str]| {
        let mut args = vec![
            "data",
            "check",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--manifests",
            manifests.path().to_str().unwrap(),
        ];
        args.extend_from_slice(names);
        xtask(&args)
    };

    let out = check(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let searched = data.path().join("opt").join("x.npz");
    let expected = format!(
        "missing (optional): not at {}; to get it: install the opt package",
        searched.display()
    );
    assert!(text(&out).contains(&expected), "{}", text(&out));

    write_manifest(manifests.path(), "req", "req/y.npz", b"y", "");
    let out = check(&[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("cargo xtask data fetch req"),
        "{}",
        text(&out)
    );

    // A present file with the wrong bytes always fails, optional or not.
    std::fs::create_dir_all(data.path().join("opt")).unwrap();
    std::fs::write(data.path().join("opt").join("x.npz"), b"z").unwrap();
    let out = check(&["opt"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("sha256 mismatch"), "{}", text(&out));

    let out = check(&["--json", "opt"]);
    assert!(!out.status.success());
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["status"], "failed");
    assert_eq!(v["name"], "opt");
}
