//! Running a helper program for a secret source (`sops`): argv only, never a shell; its
//! own environment as the caller sets it; a timeout after which it is killed; stdout and
//! stderr read within bounds. Each run happens on a runtime of its own on a scoped thread,
//! so it can be called from anywhere (inside apply's runtime or not).

use std::future::Future;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// The most stderr kept for a message, in bytes.
const MAX_STDERR_BYTES: u64 = 16 * 1024;

/// A finished run.
pub struct Finished {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a program could not be run to its end.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    #[error("cannot start {program}: {error}")]
    Start { program: String, error: String },
    #[error("{program} did not finish within {}; it was stopped", humantime::format_duration(*timeout))]
    Timeout { program: String, timeout: Duration },
    #[error("{program} wrote more than {limit} bytes; it was stopped")]
    TooLarge { program: String, limit: u64 },
}

/// Runs `future` to its end on a fresh current-thread runtime on a scoped thread.
pub fn blocking<T: Send>(future: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime starts")
                    .block_on(future)
            })
            .join()
            .expect("the helper thread does not panic")
    })
}

/// Runs `command` (stdin `input`, or none), killing it after `timeout` or once its stdout
/// passes `limit` bytes.
pub fn run(
    mut command: tokio::process::Command,
    input: Option<Vec<u8>>,
    timeout: Duration,
    limit: u64,
) -> Result<Finished, RunError> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    blocking(async move {
        let mut child = command.spawn().map_err(|e| RunError::Start {
            program: program.clone(),
            error: e.to_string(),
        })?;
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let work = async {
            let write = async {
                if let (Some(mut stdin), Some(input)) = (stdin, input) {
                    use tokio::io::AsyncWriteExt;
                    // A program that does not read its input is its own business.
                    let _ = stdin.write_all(&input).await;
                }
            };
            let read = |pipe: Option<tokio::process::ChildStdout>, limit: u64| async move {
                let mut out = Vec::new();
                if let Some(pipe) = pipe {
                    pipe.take(limit + 1).read_to_end(&mut out).await.ok();
                }
                out
            };
            let read_err = async {
                let mut out = Vec::new();
                if let Some(pipe) = stderr {
                    pipe.take(MAX_STDERR_BYTES).read_to_end(&mut out).await.ok();
                }
                out
            };
            let ((), out, err) = tokio::join!(write, read(stdout, limit), read_err);
            (out, err)
        };
        let (stdout, stderr) = match tokio::time::timeout(timeout, work).await {
            Ok(read) => read,
            Err(_) => {
                return Err(RunError::Timeout { program, timeout });
            }
        };
        if stdout.len() as u64 > limit {
            return Err(RunError::TooLarge { program, limit });
        }
        let status = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                return Err(RunError::Start {
                    program,
                    error: e.to_string(),
                });
            }
            Err(_) => return Err(RunError::Timeout { program, timeout }),
        };
        Ok(Finished {
            success: status.success(),
            code: status.code(),
            stdout,
            stderr,
        })
    })
}

/// A program's stderr as a message shows it: scrubbed of every secret paysync holds,
/// cut short and escaped (its last non-empty lines, where programs say what failed).
pub fn stderr_text(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    crate::untrusted::portal_text(&tail)
}
