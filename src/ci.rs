//! What a plan says about where it was made, read from the CI's standard variables:
//! GitHub Actions' and GitLab CI's commit and run link. Reads the environment only.

use crate::plan::About;

/// Where a plan is made: the portal (`scheme://host[:port]`), the environment and, in
/// CI, the commit and a link to the run.
pub fn about(portal: Option<String>, environment: Option<String>) -> About {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let github_run = match (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        (Some(server), Some(repository), Some(run)) => Some(format!(
            "{}/{repository}/actions/runs/{run}",
            server.trim_end_matches('/')
        )),
        _ => None,
    };
    About {
        portal,
        environment,
        commit: var("GITHUB_SHA").or_else(|| var("CI_COMMIT_SHA")),
        run_url: github_run.or_else(|| var("CI_PIPELINE_URL")),
    }
}
