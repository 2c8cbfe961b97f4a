//! `raktar user set-password | disable | enable | link | unlink | identities`: account administration
//! from the command line (local passwords, and the external identities linked to an account).

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

/// Disables or re-enables a user (the administrators' service, acting as the local operator; it
/// also ends a disabled user's web sessions).
pub async fn set_disabled(registry: &Registry, login: &str, disabled: bool) -> anyhow::Result<()> {
    let login = Login::parse(login)?;
    let operator = Principal::operator();
    registry.set_user_disabled(Some(&operator), &login, disabled).await?;
    if disabled {
        println!("disabled `{login}`: their tokens stop working now and their web sessions were ended");
    } else {
        println!("enabled `{login}`");
    }
    Ok(())
}

/// Links an external (OIDC) identity to an existing account.
pub async fn link(registry: &Registry, login: &str, issuer: &str, subject: &str) -> anyhow::Result<()> {
    let login = Login::parse(login)?;
    registry.link_identity(Some(&Principal::operator()), &login, issuer, subject).await?;
    println!("linked `{login}` to the identity `{subject}` of `{issuer}`: its next sign-in opens this account");
    Ok(())
}

/// Removes the link of an external identity to an account; ends the account's web sessions.
pub async fn unlink(registry: &Registry, login: &str, issuer: &str, subject: &str) -> anyhow::Result<()> {
    let login = Login::parse(login)?;
    registry.unlink_identity(Some(&Principal::operator()), &login, issuer, subject).await?;
    println!("unlinked the identity `{subject}` of `{issuer}` from `{login}`; their web sessions were ended");
    Ok(())
}

/// Lists the external identities linked to an account.
pub async fn identities(registry: &Registry, login: &str) -> anyhow::Result<()> {
    let login = Login::parse(login)?;
    if registry.get_user(&login).await?.is_none() {
        bail!("no user with login `{login}`");
    }
    let identities = registry.user_identities(&login).await?;
    if identities.is_empty() {
        println!("user `{login}` has no linked identities");
    }
    for i in identities {
        println!("{}\t{}\tlinked {} by {}", i.issuer, i.subject, i.linked_at, i.linked_by);
    }
    Ok(())
}
