//! The user directory with a search: every user by login, filtered by a query on the login, the
//! display name and (for administrators) the e-mail address, with the number of matches.
//!
//! The directory is one partition of the user index, read whole: fine for the number of accounts
//! of an organisation's registry (thousands), not for millions.

use crate::domain::{DomainResult, Login};
use crate::model::{UserRecord, keys};
use crate::store::{Index, Query, query_all};

use super::crates::{MAX_USERS_PER_PAGE, sees_private_details};
use super::{Principal, Registry};

/// One page of a directory search.
#[derive(Debug, Clone, Default)]
pub struct UserSearchPage {
    pub users: Vec<UserRecord>,
    /// More matching users follow the last one.
    pub has_more: bool,
    /// Matching users in all pages.
    pub total: usize,
}

impl Registry {
    /// Users whose login, display name or (for callers who may see it) e-mail address contains
    /// `query` (case-insensitive; empty or `None`: every user), by login, at most `limit` after
    /// the login `after`.
    pub async fn search_users(
        &self,
        principal: Option<&Principal>,
        query: Option<&str>,
        after: Option<&Login>,
        limit: u32,
    ) -> DomainResult<UserSearchPage> {
        self.check_read(principal)?;
        let limit = limit.min(MAX_USERS_PER_PAGE) as usize;
        let needle = query.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
        let items = query_all(self.items.as_ref(), &Query::on_index(Index::Listing, keys::user_directory_pk())).await?;
        let mut matching = Vec::new();
        for item in items {
            let user: UserRecord = item.to_entity()?;
            let hit = needle.as_deref().is_none_or(|n| {
                user.login.contains(n)
                    || user.name.as_deref().is_some_and(|x| x.to_lowercase().contains(n))
                    || (sees_private_details(principal, &user.login)
                        && user.email.as_deref().is_some_and(|x| x.to_lowercase().contains(n)))
            });
            if hit {
                matching.push(user);
            }
        }
        matching.sort_by(|a, b| a.login.cmp(&b.login));
        let total = matching.len();
        let start = after.map_or(0, |a| matching.partition_point(|u| u.login.as_str() <= a.as_str()));
        let has_more = total > start.saturating_add(limit);
        let users = matching.into_iter().skip(start).take(limit).collect();
        Ok(UserSearchPage { users, has_more, total })
    }
}
