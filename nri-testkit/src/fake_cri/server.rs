//! [`FakeCriServer`]: a [`FakeCriRuntime`] served on a unix socket with
//! [`nri_cri::socket::serve`], our `RuntimeService`'s paths by the fake and
//! every other path by the echo.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nri_cri::cri::runtime_service_server::RuntimeServiceServer;
use nri_cri::socket::{Fallback, MAX_MESSAGE_SIZE, Split, UnixChannel, serve};
use tokio::net::UnixListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::echo::echo;
use super::{FakeCriRuntime, Method};

/// A [`FakeCriRuntime`] served on a unix socket. Dropping it stops the
/// server at once (connections are cut) and removes the socket;
/// [`shutdown`](Self::shutdown) does so and waits until the server has
/// stopped.
#[derive(Debug)]
pub struct FakeCriServer {
    path: PathBuf,
    runtime: FakeCriRuntime,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeCriRuntime {
    /// Serves this runtime on a unix socket bound at `path` (which must not
    /// exist); see the [module docs](super#serving) for what is served.
    /// Clients: [`FakeCriServer::channel`].
    ///
    /// # Errors
    ///
    /// Binding the socket failed.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn serve(&self, path: impl Into<PathBuf>) -> io::Result<FakeCriServer> {
        let path = path.into();
        let listener = UnixListener::bind(&path)?;
        let grpc = RuntimeServiceServer::new(self.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE);
        let runtime = self.clone();
        let echoed: Fallback = Arc::new(move |request| Box::pin(echo(runtime.clone(), request)));
        let router = Split::new(grpc, |path| Method::from_path(path).is_some(), echoed);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router, async move {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        }));
        Ok(FakeCriServer {
            path,
            runtime: self.clone(),
            stop: Some(stop),
            task: Some(task),
        })
    }
}

impl FakeCriServer {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The runtime served.
    pub fn runtime(&self) -> &FakeCriRuntime {
        &self.runtime
    }

    /// A new client channel to the socket (for
    /// `RuntimeServiceClient::new`, or raw requests with
    /// [`UnixChannel::send`]).
    pub fn channel(&self) -> UnixChannel {
        UnixChannel::new(&self.path)
    }

    /// Stops the server, waits until it has (its connections are cut), and
    /// removes the socket.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            // The server task does not panic; an abort cannot happen here.
            let _ = task.await;
        }
        // `Drop` removes the socket.
    }
}

impl Drop for FakeCriServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        // Another server may have taken the path since; only a socket is
        // ours to remove, and a missing one is fine.
        if std::fs::symlink_metadata(&self.path)
            .is_ok_and(|metadata| std::os::unix::fs::FileTypeExt::is_socket(&metadata.file_type()))
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
