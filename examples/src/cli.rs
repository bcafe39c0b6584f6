//! Command-line values shared by the demo binaries.

use quicklb::Replan;

/// `--replan auto` ([`Replan::auto`]) or `--replan N` ([`Replan::Every`],
/// N >= 1): the balancer's `iterate` re-plans by itself.
///
/// ```
/// use quicklb::Replan;
/// use quicklb_examples::cli::parse_replan;
/// assert_eq!(parse_replan("auto"), Ok(Replan::auto()));
/// assert_eq!(parse_replan("5"), Ok(Replan::Every(5)));
/// assert!(parse_replan("0").is_err());
/// ```
pub fn parse_replan(text: &str) -> Result<Replan, String> {
    if text == "auto" {
        return Ok(Replan::auto());
    }
    match text.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(Replan::Every(n)),
        _ => Err(format!(
            "{text:?}: expected `auto` or a period of at least 1 step"
        )),
    }
}
