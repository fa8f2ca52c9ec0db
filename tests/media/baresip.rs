//! A real SIP phone: baresip (Debian 12's 1.0.0), in a temporary directory with a config of its
//! own, on 127.0.0.1 (run it inside [`crate::netns`], where that is the default route's address
//! baresip advertises in its SDP).
//!
//! What the config does, module by module:
//! * `sip_listen 127.0.0.1:<free port>`, one account `<sip:USER@127.0.0.1>;regint=0;
//!   answermode=auto;audio_codecs=PCMU,PCMA`: no registration, every incoming call answered at
//!   once. baresip 1.0.0 answers only calls whose request-URI user is the account's (`UA not
//!   found` and a 404 otherwise), so a phone Ringback calls must be started with
//!   [`Baresip::start_as`] and the callee's number (`+1415…`) as its user.
//! * `g711`: PCMU and PCMA only.
//! * `aufile` plays the WAV file given (8 kHz mono 16-bit, checked here) as the microphone
//!   (`audio_source aufile,<path>`), once. When the file ends, baresip 1.0.0 takes it for an
//!   audio error and hangs up: the file's length caps every call this phone makes or answers.
//! * `sndfile` records each call: `snd_path` gets `dump-<time>-dec.wav` (the decoded audio
//!   received) and `dump-<time>-enc.wav` (what was sent), finalised when the call ends. 1.0.0's
//!   `aufile` has no player, so the player is `aubridge` (an in-memory device nobody reads):
//!   baresip needs one for the receiving path to run.
//! * `ctrl_tcp` + `menu`: commands (`dial`, `hangup`) and events (`CALL_ESTABLISHED`,
//!   `CALL_CLOSED` …, JSON in netstrings) over TCP on another free port. Every way a call ends
//!   raises `CALL_CLOSED`, which no line of baresip's output does.
//!
//! Its stdout and stderr go to `baresip.log` in its directory; when the test panics the log is
//! printed and the directory kept.

use std::{
    collections::HashMap,
    fs::File,
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tempfile::TempDir;

/// Debian's module directory.
const MODULES: &str = "/usr/lib/baresip/modules";

/// The longest any wait on baresip may take.
const WAIT: Duration = Duration::from_secs(10);

pub struct Baresip {
    name: String,
    user: String,
    port: u16,
    dir: Option<TempDir>,
    log: PathBuf,
    recordings: PathBuf,
    child: Mutex<Child>,
    /// The control connection (`ctrl_tcp`), open once baresip is ready.
    control: Mutex<Option<TcpStream>>,
    inbox: Arc<(Mutex<Inbox>, Condvar)>,
    next_token: AtomicU64,
    established_seen: AtomicUsize,
    ended_seen: AtomicUsize,
}

/// What came in on the control connection.
#[derive(Default)]
struct Inbox {
    events: Vec<Value>,
    responses: HashMap<String, Value>,
}

/// A port free on 127.0.0.1 for both UDP and TCP (baresip's SIP listens on both).
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Reads one netstring (`<length>:<bytes>,`); `None` at the end of the stream.
fn read_netstring(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut length = Vec::new();
    reader.read_until(b':', &mut length).ok()?;
    let length: usize = std::str::from_utf8(length.strip_suffix(b":")?)
        .ok()?
        .parse()
        .ok()?;
    let mut frame = vec![0; length + 1];
    reader.read_exact(&mut frame).ok()?;
    (frame.pop() == Some(b',')).then_some(frame)
}

impl Baresip {
    /// A phone named `name` (for logs), account user `agent`, playing `plays`.
    pub async fn start(name: &str, plays: &Path) -> Self {
        Self::start_as(name, "agent", plays).await
    }

    /// A phone whose account user is `user` (the user part of the request-URI it answers,
    /// e.g. a callee's `+14155550123`), playing `plays`; returns once baresip is ready and its
    /// control connection is open.
    pub async fn start_as(name: &str, user: &str, plays: &Path) -> Self {
        Self::launch(name, user, plays, None).await
    }

    /// [`Baresip::start_as`], also taking calls over TLS on [`Baresip::tls_port`] with
    /// `certificate` (a PEM file holding the certificate and its private key).
    pub async fn start_tls(name: &str, user: &str, plays: &Path, certificate: &Path) -> Self {
        Self::launch(name, user, plays, Some(certificate)).await
    }

    async fn launch(name: &str, user: &str, plays: &Path, certificate: Option<&Path>) -> Self {
        assert!(
            Path::new(MODULES).join("ctrl_tcp.so").exists(),
            "baresip's modules are not in {MODULES}: install Debian's baresip package"
        );
        let plays = plays
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: {e}", plays.display()));
        let spec = hound::WavReader::open(&plays)
            .unwrap_or_else(|e| panic!("{} is not a WAV file: {e}", plays.display()))
            .spec();
        assert!(
            spec.sample_rate == 8000
                && spec.channels == 1
                && spec.bits_per_sample == 16
                && spec.sample_format == hound::SampleFormat::Int,
            "baresip's aufile plays only 8 kHz mono 16-bit WAV at G.711's rate, not {spec:?}"
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("baresip-{name}-"))
            .tempdir()
            .unwrap();
        let recordings = dir.path().join("recordings");
        std::fs::create_dir(&recordings).unwrap();
        for path in [&plays, &recordings] {
            assert!(
                !path.to_string_lossy().contains(char::is_whitespace),
                "baresip's config cannot hold a path with spaces: {}",
                path.display()
            );
        }
        // A port found free can be taken again before baresip binds it (by an ephemeral
        // socket of the server or of the test), so a start that loses that race is retried
        // with fresh ports.
        let mut attempts = 0;
        let (phone, control_port) = loop {
            attempts += 1;
            let (phone, control_port) =
                Self::spawn(name, user, &plays, certificate, dir.path(), &recordings);
            if phone.ready().await || attempts == 5 {
                break (phone, control_port);
            }
            eprintln!("baresip {name}: its port was taken before it could bind it; starting again");
            drop(phone);
        };
        let mut phone = phone;
        phone.dir = Some(dir);
        phone.wait_for("baresip is ready.").await;
        let control = TcpStream::connect(("127.0.0.1", control_port)).unwrap_or_else(|e| {
            panic!(
                "baresip {name}: no control connection on port {control_port} ({e}); its \
                 log:\n{}",
                phone.log()
            )
        });
        let mut reader = BufReader::new(control.try_clone().unwrap());
        let inbox = phone.inbox.clone();
        std::thread::spawn(move || {
            while let Some(frame) = read_netstring(&mut reader) {
                let Ok(message) = serde_json::from_slice::<Value>(&frame) else {
                    continue;
                };
                let (lock, changed) = &*inbox;
                let mut inbox = lock.lock().unwrap();
                if message["event"] == true {
                    inbox.events.push(message);
                } else if let Some(token) = message["token"].as_str() {
                    inbox.responses.insert(token.to_owned(), message);
                }
                changed.notify_all();
            }
        });
        *phone.control.lock().unwrap() = Some(control);
        phone
    }

    /// Writes baresip's configuration into `dir` with fresh ports and starts it; the phone
    /// (not yet known to be ready) and its control port.
    fn spawn(
        name: &str,
        user: &str,
        plays: &Path,
        certificate: Option<&Path>,
        dir: &Path,
        recordings: &Path,
    ) -> (Self, u16) {
        // baresip's TLS listens on the port after its SIP port.
        let port = loop {
            let port = free_port();
            if certificate.is_none()
                || port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
            {
                break port;
            }
        };
        let control_port = loop {
            let port2 = free_port();
            if port2 != port && port2 != port + 1 {
                break port2;
            }
        };
        let tls = match certificate {
            Some(path) => format!("sip_certificate\t{}\n", path.display()),
            None => String::new(),
        };
        let config = format!(
            "poll_method\tepoll\n\
             sip_listen\t127.0.0.1:{port}\n\
             {tls}\
             call_local_timeout\t120\n\
             call_max_calls\t4\n\
             audio_source\taufile,{plays}\n\
             audio_player\taubridge,{name}\n\
             audio_alert\taubridge,{name}-alert\n\
             audio_level\tno\n\
             ausrc_format\ts16\n\
             auplay_format\ts16\n\
             auenc_format\ts16\n\
             audec_format\ts16\n\
             audio_buffer\t20-160\n\
             rtcp_mux\tno\n\
             jitter_buffer_delay\t5-10\n\
             rtp_stats\tno\n\
             module_path\t{MODULES}\n\
             module\tg711.so\n\
             module\tsndfile.so\n\
             module\taufile.so\n\
             module\taubridge.so\n\
             module_tmp\taccount.so\n\
             module_app\tmenu.so\n\
             module_app\tctrl_tcp.so\n\
             ctrl_tcp_listen\t127.0.0.1:{control_port}\n\
             snd_path\t{recordings}\n\
             statmode_default\toff\n\
             ringback_disabled\tyes\n",
            plays = plays.display(),
            recordings = recordings.display(),
        );
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!("<sip:{user}@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n"),
        )
        .unwrap();
        let log = dir.join("baresip.log");
        let out = File::create(&log).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("baresip could not be started ({e}): install Debian's baresip package")
            });
        let phone = Self {
            name: name.to_owned(),
            user: user.to_owned(),
            port,
            dir: None,
            log,
            recordings: recordings.to_owned(),
            child: Mutex::new(child),
            control: Mutex::new(None),
            inbox: Arc::default(),
            next_token: AtomicU64::new(0),
            established_seen: AtomicUsize::new(0),
            ended_seen: AtomicUsize::new(0),
        };
        (phone, control_port)
    }

    /// Waits until baresip is ready: `false` if it exited because its SIP port was taken.
    async fn ready(&self) -> bool {
        let deadline = Instant::now() + WAIT;
        while !self.log().contains("baresip is ready.") {
            let exited = self.child.lock().unwrap().try_wait().unwrap();
            if exited.is_some() && self.log().contains("Address already in use") {
                return false;
            }
            self.check_alive(deadline, "\"baresip is ready.\" in its output");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        true
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where it takes calls over TLS, when started with [`Baresip::start_tls`].
    pub fn tls_port(&self) -> u16 {
        self.port + 1
    }

    /// The address this phone answers at, e.g. `sip:agent@127.0.0.1:40000`.
    pub fn sip_uri(&self) -> String {
        format!("sip:{}@127.0.0.1:{}", self.user, self.port)
    }

    /// What baresip printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs a command of baresip's menu and waits (blocking, briefly) for its answer; fails
    /// the test if baresip refuses it. The answer's `data`.
    fn command(&self, command: &str, params: &str) -> String {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed).to_string();
        let message = json!({ "command": command, "params": params, "token": token }).to_string();
        let frame = format!("{}:{message},", message.len());
        self.control
            .lock()
            .unwrap()
            .as_mut()
            .expect("the control connection")
            .write_all(frame.as_bytes())
            .unwrap_or_else(|e| panic!("baresip {} took no command ({e})", self.name));
        let (lock, changed) = &*self.inbox;
        let (mut inbox, _) = changed
            .wait_timeout_while(lock.lock().unwrap(), WAIT, |inbox| {
                !inbox.responses.contains_key(&token)
            })
            .unwrap();
        let Some(answer) = inbox.responses.remove(&token) else {
            drop(inbox);
            panic!(
                "baresip {}: no answer to `{command} {params}` within {WAIT:?}; its log:\n{}",
                self.name,
                self.log()
            );
        };
        assert!(
            answer["ok"] == true,
            "baresip {} refused `{command} {params}`: {answer}",
            self.name
        );
        answer["data"].as_str().unwrap_or_default().to_owned()
    }

    /// Places a call to `uri` (a SIP URI).
    pub fn dial(&self, uri: &str) {
        self.command("dial", uri);
    }

    /// Hangs up the current call.
    pub fn hangup(&self) {
        self.command("hangup", "");
    }

    /// Every event baresip reported so far (`{"type": "CALL_CLOSED", "param": reason,
    /// "peeruri", "id", "direction", …}`), oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.inbox.0.lock().unwrap().events.clone()
    }

    /// Waits until the `n`th event of type `kind` (counting from 1) has come, and returns it;
    /// fails the test (showing the log) after 10 s or if baresip exits.
    pub async fn event(&self, kind: &str, n: usize) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self
                .inbox
                .0
                .lock()
                .unwrap()
                .events
                .iter()
                .filter(|e| e["type"] == kind)
                .nth(n - 1)
                .cloned();
            if let Some(event) = found {
                return event;
            }
            self.check_alive(deadline, &format!("event {kind} #{n}"));
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for the next call (after those already waited for) to be established; its event.
    pub async fn established(&self) -> Value {
        let n = self.established_seen.fetch_add(1, Ordering::Relaxed) + 1;
        self.event("CALL_ESTABLISHED", n).await
    }

    /// Waits for the next call (after those already waited for) to end: answered or not, hung
    /// up here or by the far end, failed, or at the end of the file played. Its event, whose
    /// `param` says why (`Connection reset by peer` when the far end hung up).
    pub async fn ended(&self) -> Value {
        let n = self.ended_seen.fetch_add(1, Ordering::Relaxed) + 1;
        self.event("CALL_CLOSED", n).await
    }

    /// Waits until baresip's output holds `needle`.
    pub async fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.log().contains(needle) {
            self.check_alive(deadline, &format!("{needle:?} in its output"));
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Fails the test if baresip exited or `deadline` passed while waiting for `what`.
    fn check_alive(&self, deadline: Instant, what: &str) {
        let exited = self.child.lock().unwrap().try_wait().unwrap();
        if let Some(status) = exited {
            panic!(
                "baresip {} exited ({status}) while waiting for {what}; its log:\n{}",
                self.name,
                self.log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "baresip {}: waited {WAIT:?} for {what}; its log:\n{}",
            self.name,
            self.log()
        );
    }

    /// The audio received in each call so far (the `-dec.wav` files, oldest first), once every
    /// file is complete: `sndfile` writes a WAV header's lengths only when its call ends, so
    /// this waits (up to 10 s) for that; call it after [`ended`](Self::ended).
    pub async fn recordings(&self) -> Vec<PathBuf> {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&self.recordings)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
                .collect();
            files.sort();
            let open: Vec<&PathBuf> = files.iter().filter(|p| !finalised(p)).collect();
            if open.is_empty() {
                return files;
            }
            assert!(
                Instant::now() < deadline,
                "baresip {}: recordings still being written after {WAIT:?} (is a call still \
                 up?): {open:?}; its log:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Whether a WAV file's RIFF length covers the whole file (written when it is closed).
fn finalised(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    bytes.len() >= 8
        && &bytes[..4] == b"RIFF"
        && u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize + 8 == bytes.len()
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
        if std::thread::panicking() {
            let dir = self.dir.take().map(TempDir::keep);
            eprintln!(
                "---- baresip {} ({}), kept in {:?}; its events:\n{:#?}\nits log:\n{}---- end \
                 of baresip {}",
                self.name,
                self.sip_uri(),
                dir,
                self.inbox
                    .0
                    .lock()
                    .map(|i| i.events.clone())
                    .unwrap_or_default(),
                self.log(),
                self.name
            );
        }
    }
}
