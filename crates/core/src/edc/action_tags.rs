//! Action tags: the `@WORDS` in a field's annotation that change how the field behaves on a form.
//! Clinbridge acts on the few that matter for data entry (hiding, read-only, a default value,
//! today's date or the current time); the annotation keeps every other tag and note as written.

/// The action tags of one field, read from its annotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionTags {
    /// `@HIDDEN` or `@HIDDEN-FORM`: not shown on data entry forms.
    pub hidden_on_forms: bool,
    /// `@HIDDEN` or `@HIDDEN-SURVEY`: not shown to participants on a survey.
    pub hidden_on_surveys: bool,
    /// `@READONLY` or `@READONLY-FORM`: shown but not editable on data entry forms.
    pub readonly_on_forms: bool,
    /// `@READONLY` or `@READONLY-SURVEY`: shown but not editable on a survey.
    pub readonly_on_surveys: bool,
    /// `@DEFAULT="value"` (or with single quotes): the value a new form starts with.
    pub default: Option<String>,
    /// `@NOW`: a new form starts with the current date and time.
    pub now: bool,
    /// `@TODAY`: a new form starts with today's date.
    pub today: bool,
}

impl ActionTags {
    /// Reads the tags of an annotation. As in REDCap, a tag counts only as a whole word in the
    /// exact upper case spelling, separated from its neighbours by white space, so an e-mail
    /// address or a sentence mentioning "@hidden" does not hide the field. Unknown tags and
    /// free text are ignored; a `@DEFAULT` without a closed quoted value gives no default.
    pub fn parse(annotation: &str) -> ActionTags {
        let mut tags = ActionTags::default();
        for word in annotation.split_whitespace() {
            match word {
                "@HIDDEN" => {
                    tags.hidden_on_forms = true;
                    tags.hidden_on_surveys = true;
                }
                "@HIDDEN-FORM" => tags.hidden_on_forms = true,
                "@HIDDEN-SURVEY" => tags.hidden_on_surveys = true,
                "@READONLY" => {
                    tags.readonly_on_forms = true;
                    tags.readonly_on_surveys = true;
                }
                "@READONLY-FORM" => tags.readonly_on_forms = true,
                "@READONLY-SURVEY" => tags.readonly_on_surveys = true,
                "@NOW" => tags.now = true,
                "@TODAY" => tags.today = true,
                _ => {}
            }
        }
        tags.default = default_value(annotation);
        tags
    }
}

/// The quoted value after the first `@DEFAULT` that starts a word: `@DEFAULT="1"`,
/// `@DEFAULT = 'Unknown'`. The value runs to the next quote of the same kind.
fn default_value(annotation: &str) -> Option<String> {
    const TAG: &str = "@DEFAULT";
    let mut from = 0;
    while let Some(i) = annotation[from..].find(TAG).map(|i| i + from) {
        from = i + TAG.len();
        let starts_word = annotation[..i].chars().next_back().is_none_or(char::is_whitespace);
        let rest = &annotation[from..];
        let ends_word = rest.chars().next().is_none_or(|c| c == '=' || c.is_whitespace());
        if !starts_word || !ends_word {
            continue;
        }
        let Some(rest) = rest.trim_start().strip_prefix('=') else { continue };
        let rest = rest.trim_start();
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else { continue };
        let body = &rest[1..];
        return body.find(quote).map(|end| body[..end].to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_hidden_hides_everywhere() {
        let t = ActionTags::parse("@HIDDEN");
        assert!(t.hidden_on_forms && t.hidden_on_surveys);
        assert!(!t.readonly_on_forms);
    }

    #[test]
    fn form_and_survey_variants_hide_only_there() {
        let t = ActionTags::parse("@HIDDEN-SURVEY");
        assert!(!t.hidden_on_forms && t.hidden_on_surveys);
        let t = ActionTags::parse("@HIDDEN-FORM");
        assert!(t.hidden_on_forms && !t.hidden_on_surveys);
        let t = ActionTags::parse("@READONLY-FORM @HIDDEN-SURVEY");
        assert!(t.readonly_on_forms && !t.readonly_on_surveys && t.hidden_on_surveys && !t.hidden_on_forms);
        let t = ActionTags::parse("@HIDDEN-APP");
        assert_eq!(t, ActionTags::default());
    }

    #[test]
    fn tags_are_whole_upper_case_words_anywhere_in_the_text() {
        let t = ActionTags::parse(" @READONLY\n@NOW\tSource: EHR export");
        assert!(t.readonly_on_forms && t.readonly_on_surveys && t.now && !t.today);
        assert!(ActionTags::parse("@TODAY").today);
        for not_a_tag in ["@hidden", "x@HIDDEN", "@HIDDENX", "mail ops@HIDDEN.org", "@NOW-UTC", "@TODAY-SERVER"] {
            assert_eq!(ActionTags::parse(not_a_tag), ActionTags::default(), "{not_a_tag}");
        }
    }

    #[test]
    fn default_values_in_either_quote() {
        assert_eq!(ActionTags::parse("@DEFAULT=\"1\"").default.as_deref(), Some("1"));
        assert_eq!(ActionTags::parse("@HIDDEN @DEFAULT = 'Not done'").default.as_deref(), Some("Not done"));
        assert_eq!(ActionTags::parse("@DEFAULT='it\"s'").default.as_deref(), Some("it\"s"));
        assert_eq!(ActionTags::parse("@DEFAULT=\"\"").default.as_deref(), Some(""));
        assert_eq!(ActionTags::parse("@DEFAULT=\"a, b\" @READONLY").default.as_deref(), Some("a, b"));
        assert!(ActionTags::parse("@DEFAULT=\"a, b\" @READONLY").readonly_on_forms);
    }

    #[test]
    fn malformed_defaults_give_none() {
        for bad in ["@DEFAULT=1", "@DEFAULT=\"open", "@DEFAULT", "@DEFAULTS=\"x\"", "x@DEFAULT=\"x\"", "@DEFAULT \"x\""]
        {
            assert_eq!(ActionTags::parse(bad).default, None, "{bad}");
        }
        // A later well-formed tag still counts.
        assert_eq!(ActionTags::parse("@DEFAULTS='x' @DEFAULT='y'").default.as_deref(), Some("y"));
    }
}
