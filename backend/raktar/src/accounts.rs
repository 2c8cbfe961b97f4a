//! `raktar user set-password | disable | enable`: local account administration from the command line.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use raktar_core::Registry;
use raktar_core::domain::Login;
use raktar_core::services::Principal;

/// Reads one line (the password) from standard input; a prompt goes to stderr when it is a terminal.
fn read_password(login: &Login) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("New password for `{login}` (one line; the input is visible): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).context("reading the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password).to_owned();
    if password.is_empty() {
        bail!(
            "no password on standard input (pipe it in: `printf '%s\\n' \"$PASSWORD\" | raktar user set-password {login}`)"
        );
    }
    Ok(password)
}

/// Sets a user's password from standard input; ends their web sessions.
pub async fn set_password(registry: &Registry, login: &str) -> anyhow::Result<()> {
    let login = Login::parse(login)?;
    if registry.get_user(&login).await?.is_none() {
        bail!("no user with login `{login}` (create it first with `raktar user create {login}`)");
    }
    let password = read_password(&login)?;
    registry.set_password("cli", &login, &password).await?;
    println!("password set for `{login}`; their web sessions were ended");
    Ok(())
}

/// Disables or re-enables a user (the administrators' service, acting as the local operator).
pub async fn set_disabled(registry: &Registry, login: &str, disabled: bool) -> anyhow::Result<()> {
    let login = Login::parse(login)?;
    let operator = Principal::operator();
    registry.set_user_disabled(Some(&operator), &login, disabled).await?;
    if disabled {
        let ended = registry.revoke_user_sessions("cli", &login).await?;
        println!("disabled `{login}`: their tokens stop working now and {ended} web session(s) were ended");
    } else {
        println!("enabled `{login}`");
    }
    Ok(())
}
