//! Reading and remaking backup archives in tests: their members, an
//! archive rebuilt with a doctored sidecar (and checksums that match it),
//! and the older three-file form made from an archive.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tenantctl::db::provision::{BackupSidecar, archive};

/// One member: its name, where its content starts in the file, the content.
pub struct Member {
    pub name: String,
    pub offset: u64,
    pub content: Vec<u8>,
}

/// The members of a backup archive, in order.
pub fn members(path: &Path) -> Vec<Member> {
    let mut a = tar::Archive::new(std::fs::File::open(path).expect("open archive"));
    a.entries()
        .expect("entries")
        .map(|e| {
            let mut e = e.expect("entry");
            let name = e.path().expect("path").display().to_string();
            let offset = e.raw_file_position();
            let mut content = Vec::new();
            e.read_to_end(&mut content).expect("member");
            Member {
                name,
                offset,
                content,
            }
        })
        .collect()
}

pub fn member<'a>(ms: &'a [Member], name: &str) -> &'a Member {
    ms.iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no member {name}"))
}

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The archive's sidecar, unverified.
pub fn sidecar(path: &Path) -> BackupSidecar {
    serde_json::from_slice(&member(&members(path), archive::SIDECAR).content).expect("sidecar")
}

/// `to`: the archive `from` with its sidecar replaced and `SHA256SUMS`
/// made to match, as a tool that knows the format would.
pub fn rewrite_sidecar(from: &Path, to: &Path, side: &BackupSidecar) {
    let ms = members(from);
    let mut b = tar::Builder::new(std::fs::File::create(to).expect("create"));
    let mut sums = String::new();
    for m in &ms {
        let content = match m.name.as_str() {
            archive::SIDECAR => serde_json::to_vec_pretty(side).expect("json"),
            archive::SUMS => continue,
            _ => m.content.clone(),
        };
        let _ = writeln!(sums, "{}  {}", sha256(&content), m.name);
        append(&mut b, &m.name, &content);
    }
    append(&mut b, archive::SUMS, sums.as_bytes());
    b.into_inner().expect("finish archive");
}

fn append(b: &mut tar::Builder<std::fs::File>, name: &str, content: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o600);
    h.set_cksum();
    b.append_data(&mut h, name, content).expect("append");
}

/// The older form of the same backup (format 3): `STEM.dump`, `STEM.data`
/// when there are hypertables, and `STEM.json`, in `dir`. Returns the dump.
pub fn write_legacy(from: &Path, dir: &Path, stem: &str) -> PathBuf {
    let ms = members(from);
    let mut side: BackupSidecar =
        serde_json::from_slice(&member(&ms, archive::SIDECAR).content).expect("sidecar");
    side.format = 3;
    let dump = dir.join(format!("{stem}.dump"));
    std::fs::write(&dump, &member(&ms, archive::DUMP).content).expect("dump");
    side.dump = format!("{stem}.dump");
    if side.data.is_some() {
        std::fs::write(
            dir.join(format!("{stem}.data")),
            &member(&ms, archive::DATA).content,
        )
        .expect("data");
        side.data = Some(format!("{stem}.data"));
    }
    std::fs::write(
        dir.join(format!("{stem}.json")),
        serde_json::to_string_pretty(&side).expect("json"),
    )
    .expect("sidecar");
    dump
}
