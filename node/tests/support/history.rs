//! IRCv3 `draft/chathistory` from the client side: send a CHATHISTORY command and read its reply,
//! checking the batch framing (`BATCH +id <type> ...`, every line tagged `batch=id`, `BATCH -id`)
//! on every use, so each history test also tests the framing.

use super::msg::Msg;
use super::Client;

/// The reply to one CHATHISTORY command.
pub enum HistoryReply {
    /// A batch: its opening line's parameters after the reference tag, and the lines inside.
    Batch {
        /// Parameters of `BATCH +id ...` after `+id`: the type, then its arguments.
        header: Vec<String>,
        /// The lines between the opening and closing BATCH, in order.
        lines: Vec<Msg>,
    },
    /// A `FAIL CHATHISTORY ...` standard reply.
    Fail(Msg),
}

impl Client {
    /// Sends `CHATHISTORY <args>` and reads the batch or FAIL that answers it.
    pub async fn chathistory(&mut self, args: &str) -> HistoryReply {
        self.send(&format!("CHATHISTORY {args}")).await;
        let first = self
            .expect_where(&format!("the reply to CHATHISTORY {args}"), |m| {
                let opens_batch = m.command == "BATCH" && m.param(0).starts_with('+');
                let fails = m.command == "FAIL" && m.param(0) == "CHATHISTORY";
                opens_batch || fails
            })
            .await;
        if first.command == "FAIL" {
            return HistoryReply::Fail(first);
        }
        let id = first.param(0)[1..].to_owned();
        if id.is_empty() {
            self.fail(&format!("BATCH without a reference tag: {first}"));
        }
        let header = first.params[1..].to_vec();
        let mut lines = Vec::new();
        loop {
            let m = self.recv().await;
            if m.command == "BATCH"
                && m.params.first().map(String::as_str) == Some(&format!("-{id}"))
            {
                return HistoryReply::Batch { header, lines };
            }
            if m.tag("batch") != Some(id.as_str()) {
                self.fail(&format!("a line inside batch {id} lacks batch={id}: {m}"));
            }
            lines.push(m);
        }
    }

    /// Sends `CHATHISTORY <args>` for a target's messages and returns them, failing the test on
    /// a FAIL or on a batch that is not `chathistory <target>` for the asked target.
    pub async fn history(&mut self, args: &str) -> Vec<Msg> {
        let target = args
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        match self.chathistory(args).await {
            HistoryReply::Fail(m) => self.fail(&format!("CHATHISTORY {args} failed: {m}")),
            HistoryReply::Batch { header, lines } => {
                let expected = ["chathistory".to_owned(), target];
                if header.len() != 2
                    || header[0] != expected[0]
                    || !header[1].eq_ignore_ascii_case(&expected[1])
                {
                    self.fail(&format!(
                        "CHATHISTORY {args} opened batch {header:?}, not {expected:?}"
                    ));
                }
                lines
            }
        }
    }

    /// Sends `CHATHISTORY <args>` expecting a FAIL and returns it:
    /// `FAIL CHATHISTORY <code> <context...> :<text>`.
    pub async fn history_fail(&mut self, args: &str) -> Msg {
        match self.chathistory(args).await {
            HistoryReply::Fail(m) => m,
            HistoryReply::Batch { lines, .. } => self.fail(&format!(
                "CHATHISTORY {args} answered a batch of {} lines instead of a FAIL",
                lines.len()
            )),
        }
    }

    /// Sends `CHATHISTORY TARGETS <args>` and returns each listed target with its time value,
    /// checking the batch type and the line shape.
    pub async fn history_targets(&mut self, args: &str) -> Vec<(String, String)> {
        match self.chathistory(&format!("TARGETS {args}")).await {
            HistoryReply::Fail(m) => self.fail(&format!("CHATHISTORY TARGETS {args} failed: {m}")),
            HistoryReply::Batch { header, lines } => {
                if header != ["draft/chathistory-targets"] {
                    self.fail(&format!("TARGETS opened batch {header:?}"));
                }
                let mut found = Vec::new();
                for m in lines {
                    if m.command != "CHATHISTORY" || m.params.len() != 3 || m.param(0) != "TARGETS"
                    {
                        self.fail(&format!("not a CHATHISTORY TARGETS line: {m}"));
                    }
                    found.push((m.param(1).to_owned(), m.param(2).to_owned()));
                }
                found
            }
        }
    }
}
