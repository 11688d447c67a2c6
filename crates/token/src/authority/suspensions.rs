//! Principals suspended by containment, held in memory so that every verification, login,
//! refresh and grant refuses them without IO.

use std::collections::HashSet;

use haechi_events::Principal;
use parking_lot::RwLock;

/// The suspended principals. Memory only: the caller (containment) stores a suspension first,
/// so a restart restores it through [`Suspensions::suspend`], as the cache rule asks, and
/// audits it. Shared with every part that lets a principal in.
#[derive(Debug, Default)]
pub struct Suspensions {
    suspended: RwLock<HashSet<Principal>>,
}

impl Suspensions {
    /// Suspends `principal`: from now on its tokens are refused (`principal_suspended`), its
    /// logins, refreshes and client-credentials grants fail with
    /// [`crate::AuthFailure::Suspended`]. Its sessions are not ended, so lifting the
    /// suspension restores them. Returns whether it was not suspended already.
    pub fn suspend(&self, principal: Principal) -> bool {
        self.suspended.write().insert(principal)
    }

    /// Lifts a suspension. Returns whether there was one.
    pub fn lift(&self, principal: &Principal) -> bool {
        self.suspended.write().remove(principal)
    }

    /// Replaces the whole set with the suspensions in force in the store (a cluster node
    /// that learned another node suspended or lifted one).
    pub fn replace_all(&self, principals: impl IntoIterator<Item = Principal>) {
        let fresh: HashSet<Principal> = principals.into_iter().collect();
        *self.suspended.write() = fresh;
    }

    /// Whether `principal` is suspended now.
    pub fn is_suspended(&self, principal: &Principal) -> bool {
        let suspended = self.suspended.read();
        !suspended.is_empty() && suspended.contains(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suspension_holds_until_lifted() {
        let suspensions = Suspensions::default();
        let principal = Principal::Service("shipping".into());
        assert!(!suspensions.is_suspended(&principal));
        assert!(suspensions.suspend(principal.clone()));
        assert!(!suspensions.suspend(principal.clone()), "already suspended");
        assert!(suspensions.is_suspended(&principal));
        assert!(!suspensions.is_suspended(&Principal::Service("billing".into())));
        assert!(suspensions.lift(&principal));
        assert!(!suspensions.lift(&principal), "nothing left to lift");
        assert!(!suspensions.is_suspended(&principal));
    }
}
