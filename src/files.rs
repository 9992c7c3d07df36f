//! Reading and writing the files paysync owns or is pointed at, safely.
//!
//! - [`read_regular`]: a file read whole, but only if it is a regular file (a FIFO,
//!   device, socket or directory is refused at once, never read or waited on) and only up
//!   to a size checked before reading. Manifests, `file:` secrets, the state file, saved
//!   plans and the token file are all read through it.
//! - [`write_atomically`]: a synced temporary file renamed over the target, so a reader or
//!   a crash sees the old file or the new one, never half of either. A target that is a
//!   symlink is written through: the link stays a link and its target is replaced.
//! - [`remove_stale_temps`]: a kill between the temporary file's write and the rename
//!   leaves that file behind; whoever next owns the target (the state lock's holder)
//!   removes it. Temporary files are named `.<target name>.paysync-<random>.tmp`, so each
//!   target's are told apart from every other file.
//!
//! This module does file-system work only; callers decide what a failure means.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Why a file could not be read by [`read_regular`].
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed (`NotFound` included).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Not a regular file: reading a FIFO or a device could wait or go on forever.
    #[error("it is {kind}, not a regular file")]
    NotRegular { kind: &'static str },
    /// Larger than the limit (checked before reading).
    #[error("it is {}; the limit is {}", size_text(*size), size_text(*limit))]
    TooLarge { size: u64, limit: u64 },
}

impl ReadError {
    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// `1 KiB`, `4 MiB`, `1.5 GiB`: sizes in messages.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `5 bytes`, or `4 MiB (4194304 bytes)`: a size with its exact count.
pub fn size_text(bytes: u64) -> String {
    if bytes < 1024 {
        human_size(bytes)
    } else {
        format!("{} ({bytes} bytes)", human_size(bytes))
    }
}

/// What kind of file a non-regular file is, for messages.
pub fn kind_of(file_type: fs::FileType) -> &'static str {
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Opens `path` for reading without ever blocking in `open` (a FIFO with no writer would
/// block a plain open forever) and without becoming the controlling terminal.
fn open_for_reading(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path)
}

/// Reads `path` whole if it is a regular file of at most `limit` bytes (symlinks are
/// followed). The type and size are checked on the opened file before reading, and the
/// read stops past `limit` should the file grow meanwhile.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(file.metadata()?.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    let read = bytes.len() as u64;
    if read > limit {
        return Err(ReadError::TooLarge { size: read, limit });
    }
    Ok(bytes)
}

/// Opens a regular file of at most `limit` bytes for reading (a FIFO, a device or a
/// directory is refused at once, naming what it is), for a reader that parses it as it
/// reads (the state file): the checks of [`read_regular`], without reading it.
pub fn open_regular(path: &Path, limit: u64) -> Result<File, ReadError> {
    let file = open_for_reading(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    Ok(file)
}

/// The file a path finally names: symlinks followed one by one (a relative link is taken
/// relative to the link's directory), even when the last one points at a file that does
/// not exist yet. Gives up (returning the path reached) after 40 links, as the kernel does.
pub fn resolve_links(path: &Path) -> PathBuf {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => match fs::read_link(&current) {
                Ok(target) => {
                    current = match current.parent() {
                        Some(dir) if target.is_relative() => dir.join(target),
                        _ => target,
                    };
                }
                Err(_) => return current,
            },
            _ => return current,
        }
    }
    current
}

/// The directory a file lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The prefix of the temporary files written for `target`: `.<name>.paysync-`.
fn temp_prefix(target: &Path) -> String {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    format!(".{name}.paysync-")
}

const TEMP_SUFFIX: &str = ".tmp";

/// Creates the temporary file a write of `target` would use (empty), in `target`'s
/// directory: proves the directory is writable. It is removed when dropped.
pub fn probe_writable(target: &Path) -> io::Result<()> {
    let target = resolve_links(target);
    tempfile::Builder::new()
        .prefix(&temp_prefix(&target))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(parent_dir(&target))
        .map(drop)
}

/// Writes `bytes` to `path` through a synced temporary file and a rename, then syncs the
/// directory. A symlink is written through (its final target is replaced; the link
/// stays). An existing file's permissions are kept; a new file gets the temporary file's
/// (0600 on Unix).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically_with(path, |w| w.write_all(bytes))
}

/// [`write_atomically`] of what `write` writes, streamed (buffered) into the temporary
/// file: a large document is never held whole in memory. Nothing replaces `path` if
/// `write` fails.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let target = resolve_links(path);
    let dir = parent_dir(&target);
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(&target))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)?;
    {
        let mut buffered = io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        write(&mut buffered)?;
        buffered.flush()?;
    }
    if let Ok(existing) = fs::metadata(&target) {
        let _ = fs::set_permissions(tmp.path(), existing.permissions());
    }
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Symbolic links named like the temporary files of `path`'s writes: nothing paysync
/// makes (its temporary files are created new, never through a link), so the caller
/// refuses them rather than removing or writing through them.
pub fn temp_links(path: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(temp_entries(path)?
        .into_iter()
        .filter(|(_, kind)| kind.is_symlink())
        .map(|(path, _)| path)
        .collect())
}

/// The entries next to `path`'s final target named like its temporary files, with
/// their types (links not followed).
fn temp_entries(path: &Path) -> io::Result<Vec<(PathBuf, fs::FileType)>> {
    let target = resolve_links(path);
    let prefix = temp_prefix(&target);
    let mut found = Vec::new();
    for entry in fs::read_dir(parent_dir(&target))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix)
            && name.ends_with(TEMP_SUFFIX)
            && let Ok(kind) = entry.file_type()
        {
            found.push((entry.path(), kind));
        }
    }
    Ok(found)
}

/// Removes the temporary files a killed write of `path` left behind. Only the caller
/// that owns `path` exclusively (holds its lock) may call this: a concurrent writer's
/// temporary file would go too. Returns how many were removed.
pub fn remove_stale_temps(path: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for (path, kind) in temp_entries(path)? {
        if kind.is_file() {
            fs::remove_file(path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "hello").unwrap();
        assert_eq!(read_regular(&path, 5).unwrap(), b"hello");
        let err = read_regular(&path, 4).unwrap_err();
        assert!(
            matches!(err, ReadError::TooLarge { size: 5, limit: 4 }),
            "{err}"
        );
        assert_eq!(err.to_string(), "it is 5 bytes; the limit is 4 bytes");
        assert_eq!(size_text(4 << 20), "4 MiB (4194304 bytes)");
        assert!(
            read_regular(&dir.path().join("missing"), 5)
                .unwrap_err()
                .is_not_found()
        );
        let err = read_regular(dir.path(), 5).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::NotRegular {
                    kind: "a directory"
                }
            ),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_fifos_are_refused_at_once() {
        let err = read_regular(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::NotRegular {
                    kind: "a character device"
                }
            ),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let err = read_regular(&fifo, 1 << 20).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::NotRegular {
                    kind: "a FIFO (named pipe)"
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(5), "5 bytes");
        assert_eq!(human_size(4 << 20), "4 MiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(32 << 20), "32 MiB");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_written_through_and_stale_temps_removed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real").join("state.json");
        fs::create_dir(real.parent().unwrap()).unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("real/state.json", &link).unwrap();
        // The target does not exist yet: it is created through the link.
        write_atomically(&link, b"one").unwrap();
        write_atomically(&link, b"two").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"two");

        let stale = real.with_file_name(".state.json.paysync-x1y2.tmp");
        let other = real.with_file_name(".other.json.paysync-x1y2.tmp");
        fs::write(&stale, "").unwrap();
        fs::write(&other, "").unwrap();
        assert_eq!(remove_stale_temps(&link).unwrap(), 1);
        assert!(!stale.exists());
        assert!(other.exists(), "another file's temporary file stays");
    }

    #[test]
    fn a_write_keeps_an_existing_file_s_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        fs::write(&path, "old").unwrap();
        let mut perms = fs::metadata(&path).unwrap().permissions();
        perms.set_readonly(true);
        fs::set_permissions(&path, perms).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert!(fs::metadata(&path).unwrap().permissions().readonly());
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }
}
