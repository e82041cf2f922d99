//! The access policy: a pure function from (actor, action, target) to allow or deny.
//! Deny by default; a role grants operations on contexts, a scope says where. Commercial
//! users are walled off from medical-affairs records whatever else they hold.

use crate::identity::{Grant, Role, Scope};
use serde::Serialize;
use uuid::Uuid;

/// The bounded contexts of DESIGN.md, as the policy sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    Identity,
    Sites,
    Audit,
    Tasks,
    Trials,
    Participants,
    Consent,
    Scheduling,
    Edc,
    Safety,
    Regulatory,
    Inventory,
    Finance,
    Medical,
    Device,
    Liaison,
    Recruitment,
    Reporting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Read,
    Write,
    Sign,
    Verify,
    Export,
    ReadPhi,
    Administer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Action {
    pub context: Context,
    pub op: Op,
}

impl Action {
    pub const fn new(context: Context, op: Op) -> Self {
        Self { context, op }
    }
}

/// Where the object acted on lives. `study` and `site` are `None` for organization-level
/// objects (users, the audit log, organization settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Target {
    pub study: Option<Uuid>,
    pub site: Option<Uuid>,
}

impl Target {
    pub const ORG: Target = Target { study: None, site: None };
    pub fn site(site: Uuid) -> Self {
        Self { study: None, site: Some(site) }
    }
    pub fn study(study: Uuid) -> Self {
        Self { study: Some(study), site: None }
    }
    pub fn study_site(study: Uuid, site: Uuid) -> Self {
        Self { study: Some(study), site: Some(site) }
    }
}

/// The signed-in person as the policy needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Uuid,
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn allowed(self) -> bool {
        self == Decision::Allow
    }
}

const MEDICAL_WALL: [Context; 1] = [Context::Medical];

/// What a role may do in a context, wherever its scope reaches.
pub fn role_allows(role: Role, context: Context, op: Op) -> bool {
    use Context as C;
    use Op as O;
    let read_only = |o: Op| o == O::Read;
    match role {
        Role::Admin => match context {
            C::Identity | C::Sites => true,
            C::Audit => matches!(op, O::Read | O::Export),
            C::Tasks => matches!(op, O::Read | O::Write),
            C::Trials => matches!(op, O::Read | O::Write | O::Administer),
            C::Reporting => read_only(op),
            _ => false,
        },
        Role::Coordinator => match context {
            // Writing to a site is keeping its calendar resources (rooms, equipment, staff).
            C::Sites => matches!(op, O::Read | O::Write),
            C::Reporting => read_only(op),
            C::Tasks => matches!(op, O::Read | O::Write),
            C::Trials
            | C::Consent
            | C::Scheduling
            | C::Safety
            | C::Regulatory
            | C::Inventory
            | C::Finance
            | C::Recruitment => {
                matches!(op, O::Read | O::Write)
            }
            C::Participants => matches!(op, O::Read | O::Write | O::ReadPhi),
            C::Edc => matches!(op, O::Read | O::Write | O::Export),
            _ => false,
        },
        Role::Investigator => match context {
            C::Sites | C::Reporting => read_only(op),
            C::Tasks => matches!(op, O::Read | O::Write),
            C::Trials | C::Consent | C::Scheduling | C::Safety | C::Regulatory | C::Inventory | C::Recruitment => {
                matches!(op, O::Read | O::Write | O::Sign)
            }
            C::Participants => matches!(op, O::Read | O::Write | O::ReadPhi | O::Sign),
            C::Edc => matches!(op, O::Read | O::Write | O::Sign | O::Export),
            C::Finance => read_only(op),
            _ => false,
        },
        Role::Monitor => match context {
            C::Sites
            | C::Trials
            | C::Participants
            | C::Consent
            | C::Scheduling
            | C::Regulatory
            | C::Inventory
            | C::Reporting => read_only(op),
            C::Tasks => matches!(op, O::Read | O::Write),
            C::Edc | C::Safety => matches!(op, O::Read | O::Verify),
            _ => false,
        },
        Role::DataManager => match context {
            C::Sites | C::Trials | C::Participants | C::Safety | C::Reporting => read_only(op),
            C::Tasks => matches!(op, O::Read | O::Write),
            C::Edc => matches!(op, O::Read | O::Write | O::Verify | O::Export | O::Administer),
            _ => false,
        },
        Role::SponsorViewer => {
            matches!(context, C::Sites | C::Trials | C::Edc | C::Safety | C::Reporting) && read_only(op)
                || (context == C::Tasks && read_only(op))
        }
        Role::Auditor => match context {
            C::Audit => matches!(op, O::Read | O::Export),
            _ => read_only(op),
        },
        Role::Msl => match context {
            C::Medical => matches!(op, O::Read | O::Write),
            C::Tasks => matches!(op, O::Read | O::Write),
            C::Reporting | C::Trials | C::Sites => read_only(op),
            _ => false,
        },
        Role::MedicalManager => match context {
            C::Medical => matches!(op, O::Read | O::Write | O::Export | O::Administer),
            C::Tasks => matches!(op, O::Read | O::Write),
            C::Reporting | C::Trials | C::Sites => read_only(op),
            _ => false,
        },
        Role::Commercial => match context {
            C::Device | C::Reporting => read_only(op),
            C::Tasks => matches!(op, O::Read | O::Write),
            _ => false,
        },
        Role::ClinicalSpecialist => match context {
            C::Device => matches!(op, O::Read | O::Write),
            C::Tasks => matches!(op, O::Read | O::Write),
            C::Reporting => read_only(op),
            _ => false,
        },
        Role::Liaison => match context {
            C::Liaison => matches!(op, O::Read | O::Write | O::ReadPhi),
            C::Tasks => matches!(op, O::Read | O::Write),
            C::Sites | C::Reporting => read_only(op),
            _ => false,
        },
    }
}

/// Whether a grant's scope reaches the target.
pub fn scope_covers(scope: Scope, target: Target) -> bool {
    match scope {
        Scope::Organization => true,
        Scope::Study(s) => target.study == Some(s),
        Scope::Site(s) => target.site == Some(s),
    }
}

/// The one question every handler asks before it touches an object.
pub fn authorize(actor: &Actor, action: Action, target: Target) -> Decision {
    if MEDICAL_WALL.contains(&action.context) && actor.grants.iter().any(|g| g.role == Role::Commercial) {
        return Decision::Deny;
    }
    let ok =
        actor.grants.iter().any(|g| role_allows(g.role, action.context, action.op) && scope_covers(g.scope, target));
    if ok { Decision::Allow } else { Decision::Deny }
}

/// Whether the actor may perform the action somewhere (used for navigation and list pages,
/// which then narrow results to the scopes returned by [`scopes_for`]).
pub fn allowed_anywhere(actor: &Actor, action: Action) -> bool {
    if MEDICAL_WALL.contains(&action.context) && actor.grants.iter().any(|g| g.role == Role::Commercial) {
        return false;
    }
    actor.grants.iter().any(|g| role_allows(g.role, action.context, action.op))
}

/// The scopes in which the actor may perform the action.
pub fn scopes_for(actor: &Actor, action: Action) -> Vec<Scope> {
    if !allowed_anywhere(actor, action) {
        return Vec::new();
    }
    actor.grants.iter().filter(|g| role_allows(g.role, action.context, action.op)).map(|g| g.scope).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(grants: &[(Role, Scope)]) -> Actor {
        Actor { user_id: Uuid::nil(), grants: grants.iter().map(|&(role, scope)| Grant { role, scope }).collect() }
    }

    #[test]
    fn deny_by_default() {
        let a = actor(&[]);
        for c in [Context::Identity, Context::Audit, Context::Edc, Context::Medical] {
            for op in [Op::Read, Op::Write, Op::Administer] {
                assert_eq!(authorize(&a, Action::new(c, op), Target::ORG), Decision::Deny);
            }
        }
    }

    #[test]
    fn site_grant_does_not_reach_another_site() {
        let s1 = Uuid::from_u128(1);
        let s2 = Uuid::from_u128(2);
        let a = actor(&[(Role::Coordinator, Scope::Site(s1))]);
        let read = Action::new(Context::Participants, Op::Read);
        assert!(authorize(&a, read, Target::site(s1)).allowed());
        assert!(!authorize(&a, read, Target::site(s2)).allowed());
        assert!(!authorize(&a, read, Target::ORG).allowed());
    }

    #[test]
    fn study_grant_covers_all_sites_of_the_study_only() {
        let st = Uuid::from_u128(10);
        let other = Uuid::from_u128(11);
        let a = actor(&[(Role::Monitor, Scope::Study(st))]);
        let verify = Action::new(Context::Edc, Op::Verify);
        assert!(authorize(&a, verify, Target::study_site(st, Uuid::from_u128(1))).allowed());
        assert!(!authorize(&a, verify, Target::study_site(other, Uuid::from_u128(1))).allowed());
        assert!(!authorize(&a, Action::new(Context::Edc, Op::Write), Target::study(st)).allowed());
    }

    #[test]
    fn commercial_firewall_holds_even_with_a_medical_role() {
        let a = actor(&[(Role::Commercial, Scope::Organization), (Role::MedicalManager, Scope::Organization)]);
        for op in [Op::Read, Op::Write, Op::Export] {
            assert!(!authorize(&a, Action::new(Context::Medical, op), Target::ORG).allowed());
        }
        assert!(!allowed_anywhere(&a, Action::new(Context::Medical, Op::Read)));
        let c = actor(&[(Role::Commercial, Scope::Organization)]);
        assert!(authorize(&c, Action::new(Context::Device, Op::Read), Target::ORG).allowed());
    }

    #[test]
    fn site_resources_are_kept_by_admins_and_the_site_coordinators() {
        let s1 = Uuid::from_u128(1);
        let write = Action::new(Context::Sites, Op::Write);
        assert!(authorize(&actor(&[(Role::Admin, Scope::Organization)]), write, Target::site(s1)).allowed());
        let c = actor(&[(Role::Coordinator, Scope::Site(s1))]);
        assert!(authorize(&c, write, Target::site(s1)).allowed());
        assert!(!authorize(&c, write, Target::site(Uuid::from_u128(2))).allowed());
        assert!(!authorize(&c, Action::new(Context::Sites, Op::Administer), Target::site(s1)).allowed());
        for role in [Role::Investigator, Role::Monitor, Role::Liaison, Role::Auditor] {
            assert!(!authorize(&actor(&[(role, Scope::Organization)]), write, Target::site(s1)).allowed(), "{role}");
        }
    }

    #[test]
    fn only_admins_administer_identity_and_only_admins_and_auditors_read_audit() {
        for role in Role::ALL {
            let a = actor(&[(role, Scope::Organization)]);
            let admin = authorize(&a, Action::new(Context::Identity, Op::Administer), Target::ORG).allowed();
            assert_eq!(admin, role == Role::Admin, "{role}");
            let audit = authorize(&a, Action::new(Context::Audit, Op::Read), Target::ORG).allowed();
            assert_eq!(audit, matches!(role, Role::Admin | Role::Auditor), "{role}");
        }
    }
}
