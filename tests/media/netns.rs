//! Running a test inside a network namespace of its own, where the loopback is the only
//! interface and the default route goes through it, so that every SIP peer (baresip, Ringback)
//! finds 127.0.0.1 as "the address of the default route" and advertises it in its SDP.
//!
//! A test hands its body to [`run`], from the test's own thread:
//!
//! ```ignore
//! #[test]
//! fn two_phones_hear_each_other() {
//!     netns::run(|| async {
//!         // Inside the namespace, on a fresh multi-threaded tokio runtime.
//!     });
//! }
//! ```
//!
//! How it works: the test runs twice, in two processes.
//!
//! * Outside (`RINGBACK_TEST_NETNS` unset), [`run`] does not call the body. It re-executes the
//!   current test binary as `unshare --net <exe> --exact <test> --include-ignored --nocapture
//!   --test-threads 1` with `RINGBACK_TEST_NETNS` set to its own namespace's id, echoes the
//!   child's output (captured by libtest like any test output: shown when the test fails or
//!   under `--nocapture`), and passes only if the child exited successfully *and* printed the
//!   marker line that [`run`] prints after the body returned. A test that ran nothing (a wrong
//!   name, a filtered-out test) therefore fails; it never passes without its body. The child is
//!   killed, with everything it started, after [`TIMEOUT`].
//! * Inside (`RINGBACK_TEST_NETNS` set), [`run`] checks it really is in a new namespace (not the
//!   one named by the variable, and with no interface but `lo`, so a stray variable can never
//!   reroute the host), brings `lo` up and routes `default` through it from 127.0.0.1 (once
//!   per process), runs the body on a fresh multi-threaded tokio runtime and prints the
//!   marker.
//!
//! The test's name is libtest's own: the name of the thread libtest runs the test on
//! (`module::test`), so nothing has to be spelled twice. `unshare` and `ip` must be installed
//! and the tests run as root; without them the test fails, saying so.

use std::{
    future::Future,
    io::{BufRead, BufReader, Read},
    os::unix::process::CommandExt,
    process::{Command, Stdio},
    sync::{Once, mpsc},
    thread,
    time::{Duration, Instant},
};

/// The variable that tells the re-executed test binary it is inside; its value is the outer
/// process's network namespace (`net:[…]`).
const ENV: &str = "RINGBACK_TEST_NETNS";

/// Printed inside after the body returned; the outer test requires it.
const MARKER: &str = "ringback-netns: the test body finished:";

/// The longest a test may take inside its namespace.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `body` inside a fresh network namespace (see the module's documentation). Call it
/// directly from a `#[test]` function.
pub fn run<F, Fut>(body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let name = test_name();
    match std::env::var(ENV) {
        Err(_) => run_outside(&name),
        Ok(outer) => run_inside(&name, &outer, body),
    }
}

/// libtest runs each test on a thread named after it.
fn test_name() -> String {
    let current = thread::current();
    let name = current.name().unwrap_or_default();
    assert!(
        !name.is_empty() && name != "main",
        "netns::run must be called from the #[test] function's own thread (libtest names it \
         after the test), not from {name:?}"
    );
    name.to_owned()
}

/// This process's network namespace, as `net:[inode]`.
fn namespace() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .unwrap_or_else(|e| panic!("cannot read /proc/self/ns/net ({e}): media tests need Linux"))
        .to_string_lossy()
        .into_owned()
}

enum Line {
    Out(String),
    Err(String),
}

fn forward(stream: impl Read + Send + 'static, wrap: fn(String) -> Line, tx: mpsc::Sender<Line>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(wrap(line)).is_err() {
                break;
            }
        }
    });
}

fn run_outside(name: &str) {
    let exe = std::env::current_exe().expect("the path of the running test binary");
    let mut child = Command::new("unshare")
        .arg("--net")
        .arg(&exe)
        .args(["--exact", name, "--include-ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(ENV, namespace())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills baresip and the like with it.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "`unshare` could not be started ({e}): media tests run inside a network \
                 namespace of their own; install util-linux and run them as root"
            )
        });
    let (tx, rx) = mpsc::channel();
    forward(child.stdout.take().unwrap(), Line::Out, tx.clone());
    forward(child.stderr.take().unwrap(), Line::Err, tx);

    let expected = format!("{MARKER} {name}");
    let mut finished = false;
    let mut show = |line: Line| match line {
        Line::Out(line) => {
            finished |= line.trim() == expected;
            println!("{line}");
        }
        Line::Err(line) => eprintln!("{line}"),
    };
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => show(line),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => thread::sleep(Duration::from_millis(50)),
        }
        if let Some(status) = child.try_wait().expect("the test's child process") {
            break status;
        }
        if Instant::now() > deadline {
            let group = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            let _ = child.wait();
            while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                show(line);
            }
            panic!("`{name}` did not finish within {TIMEOUT:?} in its network namespace; killed");
        }
    };
    // What the child wrote before it ended; a grandchild that kept the pipes open is not
    // waited for long.
    let drained = Instant::now() + Duration::from_secs(2);
    while let Some(left) = drained.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => show(line),
            Err(_) => break,
        }
    }
    assert!(
        status.success(),
        "`{name}` failed inside its network namespace ({status}); its output is above. The \
         command was: unshare --net {} --exact {name} --nocapture --test-threads 1 (with \
         {ENV} set; also --include-ignored)",
        exe.display()
    );
    assert!(
        finished,
        "`{name}` never ran its body inside the network namespace: the re-executed test \
         binary ran no test of that name (its output is above). Call netns::run directly \
         from the #[test] function."
    );
}

fn run_inside<F, Fut>(name: &str, outer: &str, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    static SETUP: Once = Once::new();
    SETUP.call_once(|| set_up(outer));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(body());
    drop(runtime);
    // On a line of its own: libtest may have printed `test … ... ` without a newline.
    println!("\n{MARKER} {name}");
}

/// Runs `ip ARGS`, failing the test with its output if it fails.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("`ip` could not be started ({e}): media tests need iproute2 (Debian's iproute2)")
    });
    assert!(
        out.status.success(),
        "`ip {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn set_up(outer: &str) {
    let inner = namespace();
    assert!(
        outer.starts_with("net:[") && inner != outer,
        "{ENV}={outer:?} is set but this process is not in a new network namespace ({inner}); \
         it is set only by netns::run for the test binary it re-executes under `unshare --net`"
    );
    let links = ip(&["-o", "link", "show"]);
    let names: Vec<&str> = links
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(str::trim)
        .collect();
    assert_eq!(
        names,
        ["lo"],
        "a fresh network namespace has only `lo`; refusing to change the routes of this one"
    );
    ip(&["link", "set", "lo", "up"]);
    // `src`: without it the kernel picks no source for the route (127.0.0.1 is host-scoped)
    // and a socket "connected" to anywhere, how Ringback finds its address, reads 0.0.0.0.
    ip(&[
        "route",
        "replace",
        "default",
        "dev",
        "lo",
        "src",
        "127.0.0.1",
    ]);
    // What a SIP stack takes for "my address": the source of a datagram to anywhere.
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").expect("a UDP socket");
    probe.connect("192.0.2.1:9").expect("a default route");
    let source = probe.local_addr().expect("the probe's address").ip();
    assert!(
        source.is_loopback(),
        "the default route should leave from 127.0.0.1, not from {source}"
    );
}
