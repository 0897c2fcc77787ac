//! The rescue's skill (`crate::skill`), refreshed when its actor starts and
//! before each spawn: a new supervisor binary or workspace is picked up, an
//! operator's edit is left alone and logged once. The file work (a read,
//! perhaps a write with its fsync) runs on the blocking pool.

use super::Actor;
use crate::declaration::Role;
use crate::skill::{self, Action};

impl Actor {
    pub(super) async fn refresh_skill(&mut self) {
        let effective = &self.config.effective;
        if effective.declaration.role != Role::Rescue {
            return;
        }
        let (Some(rescued), Some(workspace)) = (
            effective.declaration.rescue_of.as_deref(),
            effective.workspaces.first(),
        ) else {
            return;
        };
        let binary = match std::env::current_exe() {
            Ok(binary) => binary,
            Err(error) => {
                tracing::warn!(instance = %self.name, %error, "no skill written: the supervisor's own path is unknown");
                return;
            }
        };
        let path = skill::path_in(&workspace.path);
        let workspace = workspace.path.clone();
        let wanted = skill::text(&binary, rescued);
        let installed = tokio::task::spawn_blocking(move || skill::install(&workspace, &wanted))
            .await
            .unwrap_or_else(|err| Err(std::io::Error::other(err)));
        match installed {
            Ok(Action::Write | Action::Rewrite) => {
                self.skill_edited_noted = false;
                tracing::info!(instance = %self.name, path = %path.display(), "the openclaw-supervisor skill is written into the rescue's workspace");
            }
            Ok(Action::Keep) => self.skill_edited_noted = false,
            Ok(Action::LeaveOperatorEdit) => {
                if !self.skill_edited_noted {
                    self.skill_edited_noted = true;
                    tracing::warn!(instance = %self.name, path = %path.display(), "the openclaw-supervisor skill was edited by hand: left as it is (delete it to get the supervisor's again)");
                }
            }
            Err(error) => {
                tracing::warn!(instance = %self.name, path = %path.display(), %error, "cannot write the openclaw-supervisor skill");
            }
        }
    }
}
