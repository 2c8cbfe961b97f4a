//! Target keys printed as cargo prints a platform: `cfg(...)` expressions parsed and re-printed in
//! cargo's form, target triples unchanged.

/// A target key as cargo prints its platform: `cfg(...)` expressions re-printed in cargo's form
/// (`cfg(all(unix, target_os = "linux"))`), target triples unchanged. Keys that do not parse are
/// kept as written.
pub(super) fn normalize_platform(key: &str) -> String {
    let trimmed = key.trim();
    let Some(inner) = trimmed.strip_prefix("cfg(").and_then(|r| r.strip_suffix(')')) else {
        return key.to_owned();
    };
    let mut parser = CfgParser { tokens: tokenize_cfg(inner), pos: 0 };
    match parser.expr() {
        Some(expr) if parser.pos == parser.tokens.len() => format!("cfg({expr})"),
        _ => key.to_owned(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum CfgToken {
    Ident(String),
    Str(String),
    Eq,
    Comma,
    Open,
    Close,
    Bad,
}

fn tokenize_cfg(s: &str) -> Vec<CfgToken> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | '=' => {
                chars.next();
                out.push(match c {
                    '(' => CfgToken::Open,
                    ')' => CfgToken::Close,
                    ',' => CfgToken::Comma,
                    _ => CfgToken::Eq,
                });
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    value.push(c);
                }
                out.push(if closed { CfgToken::Str(value) } else { CfgToken::Bad });
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut ident = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '#' {
                        ident.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(CfgToken::Ident(ident));
            }
            _ => {
                out.push(CfgToken::Bad);
                chars.next();
            }
        }
    }
    out
}

struct CfgParser {
    tokens: Vec<CfgToken>,
    pos: usize,
}

impl CfgParser {
    fn next(&mut self) -> Option<CfgToken> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek(&self) -> Option<&CfgToken> {
        self.tokens.get(self.pos)
    }

    /// `all(..)`, `any(..)`, `not(..)`, `name`, `name = "value"`, printed the way cargo does.
    fn expr(&mut self) -> Option<String> {
        let CfgToken::Ident(name) = self.next()? else { return None };
        match (name.as_str(), self.peek()) {
            ("all" | "any" | "not", Some(CfgToken::Open)) => {
                self.next();
                let mut parts = Vec::new();
                loop {
                    if self.peek() == Some(&CfgToken::Close) {
                        self.next();
                        break;
                    }
                    parts.push(self.expr()?);
                    match self.next()? {
                        CfgToken::Comma => {}
                        CfgToken::Close => break,
                        _ => return None,
                    }
                }
                if name == "not" && parts.len() != 1 {
                    return None;
                }
                Some(format!("{name}({})", parts.join(", ")))
            }
            (_, Some(CfgToken::Eq)) => {
                self.next();
                let CfgToken::Str(value) = self.next()? else { return None };
                Some(format!("{name} = \"{value}\""))
            }
            _ => Some(name),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn platforms_print_like_cargo() {
        assert_eq!(normalize_platform("cfg(unix)"), "cfg(unix)");
        assert_eq!(normalize_platform("cfg(all(unix,target_os=\"linux\"))"), "cfg(all(unix, target_os = \"linux\"))");
        assert_eq!(normalize_platform("cfg( not( windows ) )"), "cfg(not(windows))");
        assert_eq!(normalize_platform("x86_64-unknown-linux-gnu"), "x86_64-unknown-linux-gnu");
        assert_eq!(normalize_platform("cfg(all(unix"), "cfg(all(unix");
    }
}
