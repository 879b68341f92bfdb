//! `nri-cri-proxy` and NRI plugins as processes, and an observing plugin.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nri_core::stub::Stub;
use nri_transport_ttrpc::PluginConnector;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::cri::observer::{Observer, Seen};
use crate::cri::{HARNESS, PATIENCE, wait_until_serving};

/// `nri-cri-proxy` and the plugin processes connected to it.
pub struct Node {
    dir: PathBuf,
    backend: PathBuf,
    metrics_port: u16,
    proxy: Option<Child>,
    plugins: Vec<Child>,
    observer: Option<watch::Receiver<Seen>>,
}

impl Node {
    pub fn new(dir: &Path, backend: &Path, script: &str) -> Node {
        std::fs::create_dir_all(dir).expect("node dir");
        for role in [
            "cri-proxy",
            "echo",
            "ulimit-adjuster",
            "device-injector",
            "fake",
        ] {
            std::os::unix::fs::symlink(HARNESS, dir.join(format!("nri-{role}"))).expect("link");
        }
        std::fs::write(dir.join("script.yaml"), script).expect("script");
        std::fs::write(
            dir.join("nri.toml"),
            format!(
                "plugin_path = {:?}\nplugin_request_timeout = \"5s\"\n",
                dir.join("no-plugins").display().to_string()
            ),
        )
        .expect("config");
        // A free port for the metrics endpoint.
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Node {
            dir: dir.to_path_buf(),
            backend: backend.to_path_buf(),
            metrics_port,
            proxy: None,
            plugins: Vec::new(),
            observer: None,
        }
    }

    pub fn listen(&self) -> PathBuf {
        self.dir.join("cri.sock")
    }

    pub fn nri_socket(&self) -> PathBuf {
        self.dir.join("nri.sock")
    }

    pub fn log_file(&self, name: &str) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(name))
            .expect("log file")
    }

    pub fn plugins_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("plugins.log")).unwrap_or_default()
    }

    pub fn proxy_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("proxy.log")).unwrap_or_default()
    }

    /// Starts the proxy logging in `log_format`, then the plugins, and
    /// waits until all five are connected.
    pub async fn start(&mut self, log_format: &str) {
        let log = self.log_file("proxy.log");
        let mut proxy = Command::new(self.dir.join("nri-cri-proxy"))
            .arg("--listen")
            .arg(self.listen())
            .arg("--backend")
            .arg(&self.backend)
            .arg("--nri-socket")
            .arg(self.nri_socket())
            .arg("--nri-config")
            .arg(self.dir.join("nri.toml"))
            .args(["--exit-poll", "100ms", "--log-format", log_format])
            .arg("--metrics-address")
            .arg(format!("127.0.0.1:{}", self.metrics_port))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("proxy process");
        wait_until_serving(&mut proxy, || self.proxy_log()).await;
        self.proxy = Some(proxy);
        for (role, index, extra) in [
            ("echo", "10", None),
            ("ulimit-adjuster", "20", None),
            ("device-injector", "30", None),
            ("fake", "40", Some(self.dir.join("script.yaml"))),
        ] {
            let mut command = Command::new(self.dir.join(format!("nri-{role}")));
            command
                .arg("--idx")
                .arg(index)
                .arg("--name")
                .arg(role)
                .arg("--socket-path")
                .arg(self.nri_socket())
                .stdin(Stdio::null())
                .stderr(self.log_file("plugins.log"))
                .kill_on_drop(true);
            if let Some(script) = extra {
                command.arg("--script").arg(script);
            }
            self.plugins.push(command.spawn().expect("plugin process"));
        }
        let (seen, observer) = watch::channel(Seen::default());
        let stub = Stub::builder(Observer { seen })
            .index("90")
            .name("observer")
            .build(std::sync::Arc::new(PluginConnector::dial(
                self.nri_socket(),
            )))
            .expect("stub");
        tokio::spawn(async move { stub.run().await });
        self.observer = Some(observer);
        self.plugins_connected(5).await;
    }

    /// Waits until the metrics say `count` plugins are connected.
    pub async fn plugins_connected(&self, count: usize) {
        let want = format!("nri_active_plugins {count}");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let scraped = self.scrape().await;
            if scraped.lines().any(|l| l.trim() == want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{count} plugins did not connect:\n{scraped}\n{}",
                self.proxy_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The proxy's metrics, as Prometheus scrapes them.
    pub async fn scrape(&self) -> String {
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).await
        else {
            return String::new();
        };
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response).await;
        response
    }

    pub fn observer(&mut self) -> &mut watch::Receiver<Seen> {
        self.observer.as_mut().expect("started")
    }

    /// Stops the proxy with SIGTERM; the plugins go with their connection.
    pub async fn stop(&mut self) {
        if let Some(mut proxy) = self.proxy.take() {
            let pid = proxy.id().expect("pid");
            signal(pid, rustix::process::Signal::TERM);
            let status = tokio::time::timeout(PATIENCE, proxy.wait())
                .await
                .expect("the proxy exits")
                .expect("status");
            assert!(status.success(), "{status}\n{}", self.proxy_log());
        }
        for mut plugin in self.plugins.drain(..) {
            if tokio::time::timeout(PATIENCE, plugin.wait()).await.is_err() {
                let _ = plugin.kill().await;
            }
        }
        self.observer = None;
    }
}

pub fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).expect("pid")).expect("pid");
    rustix::process::kill_process(pid, signal).expect("signal");
}
