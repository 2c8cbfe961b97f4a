//! Browser-like helpers for the web sign-in tests: a client with a cookie jar that follows nothing
//! by itself, form parsing, and `raktar user set-password` with the password on stdin.

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use reqwest::Url;
use reqwest::cookie::{CookieStore, Jar};

use super::{CLI_TIMEOUT, CmdOutput, HTTP_TIMEOUT, HttpResponse, TestServer, send};

/// A cookie-keeping HTTP client (redirects are followed explicitly with [`Browser::follow`]).
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .expect("reqwest client");
        Browser { rt, client, jar, base: base.trim_end_matches('/').to_string() }
    }

    /// `path` absolute or relative to the base.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}/{}", self.base, path.trim_start_matches('/'))
        }
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> HttpResponse {
        let url = self.url(path);
        self.rt.block_on(send(&self.client, method, &url, None, headers, body))
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        self.request("GET", path, &[], None)
    }

    /// POST an urlencoded form.
    pub fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> HttpResponse {
        let body = form_body(fields);
        self.request("POST", path, &[("content-type", "application/x-www-form-urlencoded")], Some(body.into_bytes()))
    }

    /// GET the `Location` of a redirect (relative locations resolve against the response URL).
    #[track_caller]
    pub fn follow(&self, resp: &HttpResponse) -> HttpResponse {
        let location = location(resp);
        self.get(&location)
    }

    /// The value of cookie `name` the jar would send to `path`.
    pub fn cookie(&self, path: &str, name: &str) -> Option<String> {
        let url = Url::parse(&self.url(path)).ok()?;
        let header = self.jar.cookies(&url)?;
        let header = header.to_str().ok()?.to_string();
        header.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    }

    /// Plants a cookie (as another site or an old tab might have left it).
    pub fn set_cookie(&self, path: &str, cookie: &str) {
        let url = Url::parse(&self.url(path)).expect("url");
        self.jar.add_cookie_str(cookie, &url);
    }
}

/// The absolute redirect target of a 3xx response.
#[track_caller]
pub fn location(resp: &HttpResponse) -> String {
    assert!((300..400).contains(&resp.status), "expected a redirect:\n{resp}");
    let raw = resp.header("location").unwrap_or_else(|| panic!("redirect without Location:\n{resp}"));
    let base = Url::parse(&resp.url).expect("response url");
    base.join(&raw).unwrap_or_else(|e| panic!("bad Location {raw:?}: {e}")).to_string()
}

/// `a=1&b=2` with form encoding.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        s.push_str(&urlencode(k));
        s.push('=');
        s.push_str(&urlencode(v));
    }
    s
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The `value` of the first `<input ... name="NAME" ... value="...">` in the page (HTML-unescaped).
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let start = html.find(&needle)?;
    let tag_start = html[..start].rfind('<')?;
    let tag_end = start + html[start..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.split("value=\"").nth(1)?;
    let v = &v[..v.find('"')?];
    Some(
        v.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"),
    )
}

/// Every `Set-Cookie` header of a response.
pub fn set_cookies(resp: &HttpResponse) -> Vec<String> {
    resp.headers.get_all("set-cookie").iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect()
}

/// The `Set-Cookie` header for cookie `name`, if any.
pub fn set_cookie_for(resp: &HttpResponse, name: &str) -> Option<String> {
    set_cookies(resp).into_iter().find(|c| c.starts_with(&format!("{name}=")))
}

/// `raktar user ARGS` with `stdin` written to the command's standard input (bounded wait).
pub fn cli_with_stdin(server: &TestServer, args: &[&str], stdin: &str) -> CmdOutput {
    // On the server's home (its data dir, or its table and bucket with RAKTAR_TEST_HOME=aws).
    let mut cmd = server.cli_command(args);
    let command = format!("raktar {}", args.join(" "));
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn `{command}`: {e}"));
    {
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx
        .recv_timeout(CLI_TIMEOUT)
        .unwrap_or_else(|_| panic!("`{command}` did not finish within {CLI_TIMEOUT:?}"))
        .expect("wait for the CLI");
    CmdOutput {
        command,
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `raktar user set-password LOGIN` with the password on stdin; asserts success.
#[track_caller]
pub fn set_password(server: &TestServer, login: &str, password: &str) {
    let out = cli_with_stdin(server, &["user", "set-password", login], &format!("{password}\n"));
    assert!(out.success(), "set-password failed:\n{out}\n{}", server.logs());
}

/// Loads `/login?next=...`, then posts the form; returns the POST response.
pub fn sign_in(browser: &Browser, login: &str, password: &str) -> HttpResponse {
    let page = browser.get("/login?next=/me");
    page.assert_status(200);
    let html = page.text();
    let login_csrf = hidden_field(&html, "login_csrf").unwrap_or_else(|| panic!("no login_csrf in the form:\n{page}"));
    let mut fields =
        vec![("login", login), ("password", password), ("next", "/me"), ("login_csrf", login_csrf.as_str())];
    let session_csrf = hidden_field(&html, "csrf_token");
    if let Some(t) = &session_csrf {
        fields.push(("csrf_token", t.as_str()));
    }
    browser.post_form("/login", &fields)
}
