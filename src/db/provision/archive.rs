//! The backup artifact: one tar archive (any `tar` lists and extracts it),
//! private (0600) from its first byte, written under a temporary name in
//! the backup directory and renamed into place only when complete, so a
//! failed backup leaves no file at all. Its members, in order:
//!
//! - `schema.dump`: the `pg_dump -Fc` of the tenant's schema;
//! - `hypertables.data`: the hypertables' binary `COPY` streams, one after
//!   another (only when the tenant has hypertables);
//! - `backup.json`: the sidecar (see [`super::backup::BackupSidecar`]),
//!   with the SHA-256 and size of the members above and every table's row
//!   count and checksum;
//! - `SHA256SUMS`: the SHA-256 of each member before it, as `sha256sum`
//!   writes them (so the sidecar is covered too, and `sha256sum -c` checks
//!   an extracted backup).
//!
//! The sidecar comes after the data because its checksums are known only
//! then; the dump and the rows stream straight into the archive (each
//! member's header is written once its size is known), so a backup needs
//! its own size on disk, not twice that.
//!
//! [`open`] reads every byte before anything is restored: every member's
//! checksum against `SHA256SUMS`, the sidecar's checksums against the
//! members, and the archive's end; a damaged or cut-short archive is
//! refused in one sentence.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::backup::{BackupSidecar, SIDECAR_FORMAT, hex};
use crate::error::{Error, Result};

/// The dump member.
pub const DUMP: &str = "schema.dump";
/// The hypertables' rows member.
pub const DATA: &str = "hypertables.data";
/// The sidecar member.
pub const SIDECAR: &str = "backup.json";
/// The checksums member, last.
pub const SUMS: &str = "SHA256SUMS";
/// The file name suffix of a backup archive.
pub const SUFFIX: &str = ".tar";

const BLOCK: u64 = 512;
/// The same, as a buffer length.
const BLOCK_LEN: usize = 512;
/// A sidecar or checksum list larger than this is not one of ours.
const SMALL_MEMBER_LIMIT: u64 = 64 << 20;

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::failure(format!("cannot write the backup {}: {e}", path.display()))
}

fn padding(n: u64) -> u64 {
    (BLOCK - n % BLOCK) % BLOCK
}

/// A member being written: where its header goes, its hash and length.
struct Open {
    header_at: u64,
    sha: Sha256,
    bytes: u64,
}

/// A backup archive being written, under a temporary name beside its final
/// one. Dropped without [`ArchiveWriter::commit`], it leaves nothing.
pub struct ArchiveWriter {
    file: tempfile::NamedTempFile,
    path: PathBuf,
    mtime: u64,
    open: Option<Open>,
    sums: Vec<(String, String)>,
}

impl ArchiveWriter {
    /// Start the archive that will be `path` (which must not exist when it
    /// is committed); the temporary file is created in its directory, 0600
    /// (as every `tempfile` is) from its first byte.
    pub fn create(path: &Path) -> Result<Self> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let file = tempfile::Builder::new()
            .prefix(".tenantctl-backup-")
            .suffix(".part")
            .tempfile_in(dir)
            .map_err(|e| {
                Error::failure(format!("cannot create a backup in {}: {e}", dir.display()))
            })?;
        let mtime = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Self {
            file,
            path: path.to_path_buf(),
            mtime,
            open: None,
            sums: Vec::new(),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Begin a member: its header's place is kept until [`Self::finish`].
    pub fn begin(&mut self) -> Result<()> {
        if self.open.is_some() {
            return Err(Error::failure("a backup member is already being written"));
        }
        let f = self.file.as_file_mut();
        let header_at = f.stream_position().map_err(|e| io_error(&self.path, &e))?;
        f.write_all(&[0u8; BLOCK_LEN])
            .map_err(|e| io_error(&self.path, &e))?;
        self.open = Some(Open {
            header_at,
            sha: Sha256::new(),
            bytes: 0,
        });
        Ok(())
    }

    /// End the member begun last, naming it; returns its (SHA-256, bytes).
    pub fn finish(&mut self, name: &str) -> Result<(String, u64)> {
        let Some(open) = self.open.take() else {
            return Err(Error::failure("no backup member is being written"));
        };
        let sha = hex(&open.sha.finalize());
        let mut header = tar::Header::new_gnu();
        header
            .set_path(name)
            .map_err(|e| Error::failure(format!("cannot name the backup member {name}: {e}")))?;
        header.set_size(open.bytes);
        header.set_mode(0o600);
        header.set_mtime(self.mtime);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let pad = padding(open.bytes);
        let f = self.file.as_file_mut();
        let end = f
            .write_all(&vec![0u8; usize::try_from(pad).unwrap_or(0)])
            .and_then(|()| f.stream_position())
            .and_then(|end| {
                f.seek(SeekFrom::Start(open.header_at))?;
                f.write_all(header.as_bytes())?;
                f.seek(SeekFrom::Start(end))
            });
        end.map_err(|e| io_error(&self.path, &e))?;
        self.sums.push((sha.clone(), name.to_string()));
        Ok((sha, open.bytes))
    }

    /// Drop the member begun last, as if it had never been begun.
    pub fn abandon(&mut self) -> Result<()> {
        if let Some(open) = self.open.take() {
            let f = self.file.as_file_mut();
            f.set_len(open.header_at)
                .and_then(|()| f.seek(SeekFrom::Start(open.header_at)).map(|_| ()))
                .map_err(|e| io_error(&self.path, &e))?;
        }
        Ok(())
    }

    /// A whole member from memory.
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> Result<(String, u64)> {
        self.begin()?;
        self.write_all(bytes)
            .map_err(|e| io_error(&self.path, &e))?;
        self.finish(name)
    }

    /// Write the checksums and the archive's end, flush it to disk and give
    /// it its final name (refusing to replace a file there).
    pub fn commit(mut self) -> Result<PathBuf> {
        if self.open.is_some() {
            return Err(Error::failure("a backup member was left unfinished"));
        }
        let sums = self.sums.iter().fold(String::new(), |mut s, (sha, name)| {
            let _ = writeln!(s, "{sha}  {name}");
            s
        });
        self.add(SUMS, sums.as_bytes())?;
        let f = self.file.as_file_mut();
        f.write_all(&[0u8; 2 * BLOCK_LEN])
            .and_then(|()| f.sync_all())
            .map_err(|e| io_error(&self.path, &e))?;
        let path = self.path.clone();
        self.file.persist_noclobber(&path).map_err(|e| {
            Error::failure(format!(
                "cannot write the backup {}: {}",
                path.display(),
                e.error
            ))
        })?;
        if let Some(dir) = path.parent() {
            // The new name itself survives a crash.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(path)
    }
}

impl Write for ArchiveWriter {
    /// Into the member begun last (an error when none is).
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(open) = self.open.as_mut() else {
            return Err(std::io::Error::other("no backup member is being written"));
        };
        let n = self.file.as_file_mut().write(buf)?;
        open.sha.update(&buf[..n]);
        open.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_file_mut().flush()
    }
}

/// Whether `path` starts like a tar archive (the `ustar` magic of its first
/// header). False for the older `.dump`/`.json` backups.
pub fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; BLOCK_LEN];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head[257..262] == b"ustar"
}

/// The dump to give `pg_restore`: the old format's own file, or the
/// archive's dump copied into a private temporary file (removed on drop).
#[derive(Debug)]
pub enum DumpFile {
    Beside(PathBuf),
    Extracted(tempfile::NamedTempFile),
}

impl DumpFile {
    pub fn path(&self) -> &Path {
        match self {
            DumpFile::Beside(p) => p,
            DumpFile::Extracted(f) => f.path(),
        }
    }
}

/// A backup whose every checksum matched: its sidecar, its dump, and where
/// the hypertables' rows are (a file and the offset of their first byte).
#[derive(Debug)]
pub struct VerifiedBackup {
    pub sidecar: BackupSidecar,
    pub dump: DumpFile,
    pub data: Option<(PathBuf, u64)>,
}

struct Member {
    offset: u64,
    bytes: u64,
    sha: String,
    content: Option<Vec<u8>>,
}

/// Read and check the archive at `path` (nothing in the database is
/// touched): each member's checksum, the sidecar's record of them, the
/// hypertables' row streams within their member, the archive's end.
pub fn open(path: &Path) -> Result<VerifiedBackup> {
    let shown = path.display().to_string();
    let damaged = |why: &str| {
        Error::refused(format!(
            "{shown} is not an intact tenantctl backup ({why}); nothing was restored"
        ))
    };
    let file = File::open(path).map_err(|e| Error::failure(format!("cannot read {shown}: {e}")))?;
    let len = file
        .metadata()
        .map_err(|e| Error::failure(format!("cannot read {shown}: {e}")))?
        .len();
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let mut dump_copy = dir
        .and_then(|d| {
            tempfile::Builder::new()
                .prefix(".tenantctl-restore-")
                .tempfile_in(d)
                .ok()
        })
        .map_or_else(
            || {
                tempfile::Builder::new()
                    .prefix("tenantctl-restore-")
                    .tempfile()
            },
            Ok,
        )
        .map_err(|e| Error::failure(format!("cannot make room to check {shown}: {e}")))?;

    let mut members: std::collections::BTreeMap<String, Member> = std::collections::BTreeMap::new();
    let mut order = Vec::new();
    let mut end = 0u64;
    let mut archive = tar::Archive::new(file);
    let entries = archive
        .entries_with_seek()
        .map_err(|e| damaged(&format!("cannot read it as a tar archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| damaged(&format!("a member's header is damaged: {e}")))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if ![DUMP, DATA, SIDECAR, SUMS].contains(&name.as_str()) {
            return Err(damaged(&format!("it holds an unexpected member {name:?}")));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(damaged(&format!("its member {name} is not a plain file")));
        }
        if members.contains_key(&name) {
            return Err(damaged(&format!("it holds {name} twice")));
        }
        let size = entry.size();
        let offset = entry.raw_file_position();
        let small = name == SIDECAR || name == SUMS;
        if small && size > SMALL_MEMBER_LIMIT {
            return Err(damaged(&format!("its {name} is implausibly large")));
        }
        let mut sha = Sha256::new();
        let mut content = small.then(Vec::new);
        let mut buf = vec![0u8; 1 << 16];
        let mut bytes = 0u64;
        loop {
            let k = entry
                .read(&mut buf)
                .map_err(|e| damaged(&format!("cannot read its member {name}: {e}")))?;
            if k == 0 {
                break;
            }
            sha.update(&buf[..k]);
            if let Some(c) = content.as_mut() {
                c.extend_from_slice(&buf[..k]);
            }
            if name == DUMP {
                dump_copy.as_file_mut().write_all(&buf[..k]).map_err(|e| {
                    Error::failure(format!("cannot copy the dump out of {shown}: {e}"))
                })?;
            }
            bytes += k as u64;
        }
        if bytes != size {
            return Err(damaged(&format!(
                "it is cut short: its member {name} has {bytes} of its {size} bytes"
            )));
        }
        end = offset + size + padding(size);
        order.push(name.clone());
        members.insert(
            name,
            Member {
                offset,
                bytes: size,
                sha: hex(&sha.finalize()),
                content,
            },
        );
    }
    if order.last().map(String::as_str) != Some(SUMS) {
        return Err(damaged(&format!(
            "it is cut short: its last member, {SUMS}, is missing"
        )));
    }
    // The end-of-archive blocks: a file cut after the last member lacks them.
    if len < end + 2 * BLOCK {
        return Err(damaged("it is cut short: the archive's end is missing"));
    }

    // Every member against SHA256SUMS.
    let sums = members
        .get(SUMS)
        .and_then(|m| m.content.as_deref())
        .unwrap_or_default();
    let sums =
        std::str::from_utf8(sums).map_err(|_| damaged(&format!("its {SUMS} is not text")))?;
    let mut listed = std::collections::BTreeSet::new();
    for line in sums.lines() {
        let Some((want, name)) = line.split_once("  ") else {
            return Err(damaged(&format!(
                "its {SUMS} has a line that is not a checksum"
            )));
        };
        let Some(m) = members.get(name).filter(|_| name != SUMS) else {
            return Err(damaged(&format!(
                "its {SUMS} lists {name:?}, which it does not hold"
            )));
        };
        if !m.sha.eq_ignore_ascii_case(want) {
            return Err(damaged(&format!(
                "its member {name} does not match its checksum: it was changed or damaged"
            )));
        }
        listed.insert(name);
    }
    if let Some(name) = members
        .keys()
        .find(|n| n.as_str() != SUMS && !listed.contains(n.as_str()))
    {
        return Err(damaged(&format!(
            "its member {name} has no checksum in {SUMS}"
        )));
    }

    // The sidecar, and its record of the dump and the rows.
    let Some(side) = members.get(SIDECAR).and_then(|m| m.content.as_deref()) else {
        return Err(damaged(&format!("it has no {SIDECAR}")));
    };
    let side: BackupSidecar = serde_json::from_slice(side)
        .map_err(|e| damaged(&format!("its {SIDECAR} is not a backup sidecar: {e}")))?;
    if side.format > SIDECAR_FORMAT {
        return Err(Error::invalid(format!(
            "{shown} is a backup of format {}, newer than this tenantctl knows ({SIDECAR_FORMAT}): upgrade tenantctl",
            side.format
        )));
    }
    let Some(dump) = members.get(DUMP) else {
        return Err(damaged(&format!("it has no {DUMP}")));
    };
    let recorded = |sha: Option<&str>, bytes: Option<u64>, m: &Member| {
        sha.is_some_and(|s| s.eq_ignore_ascii_case(&m.sha)) && bytes.is_none_or(|b| b == m.bytes)
    };
    if side.dump != DUMP || !recorded(side.dump_sha256.as_deref(), side.dump_bytes, dump) {
        return Err(damaged(&format!(
            "its {DUMP} does not match the checksum its sidecar records"
        )));
    }
    let data = match (side.data.as_deref(), members.get(DATA)) {
        (None, None) => None,
        (Some(DATA), Some(m)) if recorded(side.data_sha256.as_deref(), side.data_bytes, m) => {
            Some((path.to_path_buf(), m.offset, m.bytes))
        }
        _ => {
            return Err(damaged(&format!(
                "its {DATA} does not match what its sidecar records"
            )));
        }
    };
    if let Some((_, _, bytes)) = &data {
        check_streams(&side, *bytes).map_err(|w| damaged(&w))?;
    }
    dump_copy
        .as_file_mut()
        .sync_all()
        .map_err(|e| Error::failure(format!("cannot copy the dump out of {shown}: {e}")))?;
    Ok(VerifiedBackup {
        sidecar: side,
        dump: DumpFile::Extracted(dump_copy),
        data: data.map(|(p, o, _)| (p, o)),
    })
}

/// Each hypertable's row stream lies within the `bytes` of the rows.
pub fn check_streams(side: &BackupSidecar, bytes: u64) -> std::result::Result<(), String> {
    for t in &side.tables {
        if let Some(h) = &t.hypertable {
            if h.offset.checked_add(h.bytes).is_none_or(|e| e > bytes) {
                return Err(format!(
                    "its sidecar places the rows of {} beyond the end of the rows",
                    t.table
                ));
            }
        }
    }
    Ok(())
}
