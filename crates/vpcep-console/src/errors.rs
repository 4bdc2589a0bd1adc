//! Errors in the user's language: the one place that turns an error of the service layer into
//! console text.
//!
//! The interface is [`localize`]: an error in, a [`Localized`] out (a sentence in the page's
//! language, the error code for a separate detail line, the form field it belongs to and, for a
//! port-mapping row, which input of the row). Today the service layer answers `ApiError` (status,
//! Huawei code, English message, field), so the offending values are read back out of the English
//! message in [`Facts`]; when the typed domain error lands (field and value as data), only
//! [`Facts`] and the `From` impl below change.

use maud::{Markup, Render, html};
use vpcep_huawei::ApiError;
use vpcep_huawei::error::codes;

use crate::i18n::{Lang, M, error_summary};

/// A message for the user: a sentence, and the error code shown on its own line under it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Msg {
    pub text: String,
    pub code: Option<String>,
}

impl Msg {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            code: None,
        }
    }
}

impl From<&str> for Msg {
    fn from(s: &str) -> Self {
        Msg::new(s)
    }
}

impl From<String> for Msg {
    fn from(s: String) -> Self {
        Msg::new(s)
    }
}

impl Render for Msg {
    fn render(&self) -> Markup {
        html! {
            (self.text)
            @if let Some(c) = &self.code {
                span.err-code { (c) }
            }
        }
    }
}

/// Which input of a port-mapping row an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPart {
    Protocol,
    Server,
    Client,
}

impl PortPart {
    /// The `name` of the row's input (`port_server`, …).
    pub fn input_name(self) -> &'static str {
        match self {
            PortPart::Protocol => "port_protocol",
            PortPart::Server => "port_server",
            PortPart::Client => "port_client",
        }
    }
}

/// An error, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Localized {
    pub msg: Msg,
    /// The request field the error is about (`service_name`, `vpc_id`, `port_id`, `ports`, …).
    pub field: Option<&'static str>,
    /// For a port-mapping error: the input of the row that is wrong.
    pub part: Option<PortPart>,
    /// For a duplicated mapping: the protocol and the repeated port (to find the row).
    pub duplicate: Option<(String, u16)>,
}

/// What the console reads of an error. The only coupling to `ApiError`.
pub struct Facts<'a> {
    pub code: &'a str,
    pub field: Option<&'static str>,
    pub message: &'a str,
}

impl<'a> From<&'a ApiError> for Facts<'a> {
    fn from(e: &'a ApiError) -> Self {
        Facts {
            code: e.code,
            field: e.field,
            message: &e.message,
        }
    }
}

/// The error in `lang`: a Chinese sentence naming the field in Chinese and the offending value,
/// or, in English, the service layer's own message; the code goes on the detail line.
/// Takes a domain error too (in its Huawei wording, whose code the mapping keys on).
pub fn localize(e: &(impl Clone + Into<ApiError>), lang: Lang) -> Localized {
    let e: ApiError = e.clone().into();
    localize_facts(&Facts::from(&e), lang)
}

pub fn localize_facts(f: &Facts<'_>, lang: Lang) -> Localized {
    let (zh, part) = chinese(f);
    let text = match lang {
        Lang::Zh => zh,
        Lang::En => f.message.to_string(),
    };
    let duplicate = (f.code == codes::PORTS_CONFLICT && f.message.starts_with("Duplicate"))
        .then(|| duplicate_of(f.message))
        .flatten()
        .map(|(_, proto, port)| (proto, port));
    Localized {
        msg: Msg {
            text,
            code: Some(f.code.to_string()),
        },
        field: f.field,
        part,
        duplicate,
    }
}

// ---- reading values back out of today's English messages --------------------------------

/// The value quoted in a message: from the first `'` to the last `close` (`"': use"`), so a
/// value with quotes of its own comes back whole.
fn quoted<'a>(msg: &'a str, close: &str) -> Option<&'a str> {
    let start = msg.find('\'')? + 1;
    let end = msg.rfind(close)?;
    (end >= start).then(|| &msg[start..end])
}

/// The whitespace-separated word after `marker` (`"The VPC "` → the id).
fn word_after<'a>(msg: &'a str, marker: &str) -> Option<&'a str> {
    let start = msg.find(marker)? + marker.len();
    let w = msg[start..].split_whitespace().next()?;
    Some(w.trim_end_matches(['.', ',', ':']))
}

/// The first number in parentheses (`(5)`).
fn paren_number(msg: &str) -> Option<&str> {
    let start = msg.find('(')? + 1;
    let end = msg[start..].find(')')? + start;
    let n = &msg[start..end];
    n.chars().all(|c| c.is_ascii_digit()).then_some(n)
}

/// `at most N` → N.
fn at_most(msg: &str) -> Option<&str> {
    word_after(msg, "at most ").or_else(|| word_after(msg, "At most "))
}

/// Which port field a message names first.
fn port_part(msg: &str) -> Option<PortPart> {
    let c = msg.find("client_port");
    let s = msg.find("server_port");
    match (c, s) {
        (Some(c), Some(s)) => Some(if c < s {
            PortPart::Client
        } else {
            PortPart::Server
        }),
        (Some(_), None) => Some(PortPart::Client),
        (None, Some(_)) => Some(PortPart::Server),
        (None, None) => None,
    }
}

fn port_label(p: PortPart) -> &'static str {
    match p {
        PortPart::Server => M::ServerPort.t(Lang::Zh),
        PortPart::Client => M::ClientPort.t(Lang::Zh),
        PortPart::Protocol => M::Protocol.t(Lang::Zh),
    }
}

/// `Duplicate mapping: client_port 80 TCP appears twice.` → (client, TCP, 80).
fn duplicate_of(msg: &str) -> Option<(PortPart, String, u16)> {
    let part = port_part(msg)?;
    let key = match part {
        PortPart::Client => "client_port ",
        _ => "server_port ",
    };
    let start = msg.find(key)? + key.len();
    let mut words = msg[start..].split_whitespace();
    let port = words.next()?.parse().ok()?;
    let proto = words.next()?.to_string();
    Some((part, proto, port))
}

/// A value quoted for a Chinese sentence.
fn q(v: &str) -> String {
    format!("“{v}”")
}

/// The Chinese sentence for an error, and the port-row input it is about.
fn chinese(f: &Facts<'_>) -> (String, Option<PortPart>) {
    let m = f.message;
    let range = "1–65535";
    let text = match f.code {
        // ---- port mappings
        codes::INVALID_SERVICE_PORT | codes::INVALID_PORT => {
            let part = port_part(m).unwrap_or(if f.code == codes::INVALID_PORT {
                PortPart::Client
            } else {
                PortPart::Server
            });
            let label = port_label(part);
            let value = m
                .split_whitespace()
                .nth(1)
                .filter(|v| v.parse::<i64>().is_ok());
            let text = match value {
                Some(v) => format!("{label} {v} 超出范围 {range}。"),
                None => format!("{label}须在 {range} 之间。"),
            };
            return (text, Some(part));
        }
        "EndPoint.2028" => {
            if m.starts_with("Each mapping") {
                "每条端口映射都需要填写服务端口和终端端口。".to_string()
            } else {
                "请至少填写一条端口映射。".to_string()
            }
        }
        codes::PORTS_LIMIT => match at_most(m) {
            Some(n) => format!("单次最多添加 {n} 条端口映射。"),
            None => "端口映射数量超过上限。".to_string(),
        },
        codes::INVALID_PROTOCOL => {
            let v = quoted(m, "' is").unwrap_or_default();
            return (
                format!("协议 {} 无效，请选择 TCP 或 UDP。", q(v)),
                Some(PortPart::Protocol),
            );
        }
        codes::PORTS_CONFLICT => {
            if let Some((part, proto, port)) = duplicate_of(m)
                && m.starts_with("Duplicate")
            {
                return (
                    format!("{} {port}（{proto}）重复。", port_label(part)),
                    Some(part),
                );
            }
            // Conflict with another service on the same backend: `TCP server_port 8080 is …`.
            let port = word_after(m, "server_port ");
            let proto = if m.contains("UDP server_port") {
                "UDP"
            } else {
                "TCP"
            };
            match port {
                Some(p) => {
                    return (
                        format!("该后端资源的服务端口 {p}（{proto}）已被其他终端节点服务使用。"),
                        Some(PortPart::Server),
                    );
                }
                None => "端口映射与已有的终端节点服务冲突。".to_string(),
            }
        }
        // ---- names and whitelist records
        codes::INVALID_SERVICE_NAME_3076 | codes::INVALID_SERVICE_NAME => match quoted(m, "': ") {
            Some(v) => format!(
                "名称 {} 不符合要求：长度 1–16，只能包含字母、数字、下划线（_）和中划线（-）。",
                q(v)
            ),
            None => "名称不符合要求：长度 1–16，只能包含字母、数字、下划线（_）和中划线（-）。"
                .to_string(),
        },
        codes::INVALID_PERMISSION => match quoted(m, "': ") {
            Some(v) if m.starts_with("Invalid permission '") => format!(
                "授权账号 ID {} 格式不正确，请填写“iam:domain::”加账号 ID，或填写 * 允许所有账号。",
                q(v)
            ),
            _ => "授权账号 ID 格式不正确。".to_string(),
        },
        codes::EMPTY_PERMISSIONS => M::PermsEmpty.t(Lang::Zh).to_string(),
        codes::PERMISSION_LIMIT => match paren_number(m) {
            Some(n) => format!("白名单记录已达上限（{n} 条）。"),
            None => "白名单记录已达上限。".to_string(),
        },
        codes::BATCH_LIMIT => match at_most(m) {
            Some(n) => format!("单次最多添加 {n} 条记录。"),
            None => "单次操作的数量超过上限。".to_string(),
        },
        // ---- network
        codes::VPC_NOT_FOUND => match word_after(m, "The VPC ") {
            Some(v) => format!("虚拟私有云 {} 不存在。", q(v)),
            None => "所选虚拟私有云不存在。".to_string(),
        },
        codes::VPC_EMPTY | codes::INVALID_VPC_ID => "请选择虚拟私有云。".to_string(),
        codes::SUBNET_EMPTY => "请选择子网。".to_string(),
        codes::INVALID_SUBNET_ID => match word_after(m, "subnet_id ") {
            Some(v) => format!("子网 {} 不存在。", q(v)),
            None => "所选子网不存在。".to_string(),
        },
        codes::SUBNET_NOT_IN_VPC => "所选子网不属于所选虚拟私有云。".to_string(),
        codes::INVALID_PORT_IP => format!(
            "节点 IP {} 不是有效的 IPv4 地址。",
            q(quoted(m, "'.").unwrap_or_default())
        ),
        codes::PORT_IP_NOT_IN_SUBNET => {
            let ip = word_after(m, "Port IP ").unwrap_or_default();
            let cidr = word_after(m, "subnet ").unwrap_or_default();
            if m.contains("reserved") {
                format!("节点 IP {ip} 是子网 {cidr} 的保留地址（网络地址、网关或广播地址）。")
            } else {
                format!("节点 IP {ip} 不在子网 {cidr} 的地址范围内。")
            }
        }
        codes::PORT_IP_IN_USE => match word_after(m, "Port IP ") {
            Some(ip) => format!("节点 IP {ip} 已被占用。"),
            None => "节点 IP 已被占用。".to_string(),
        },
        // ---- backends
        codes::PORT_NOT_FOUND => match word_after(m, "The port ").filter(|v| *v != "does") {
            Some(v) => format!("后端资源 {} 不存在。", q(v)),
            None => "请选择后端资源。".to_string(),
        },
        codes::PORT_NOT_IN_VPC => "所选后端资源不在所选虚拟私有云中。".to_string(),
        codes::INVALID_PORT_ID => {
            "所选网卡是负载均衡的 VIP，请把后端资源类型选为“增强型负载均衡”。".to_string()
        }
        codes::INVALID_SERVER_TYPE => "后端资源类型无效，请选择负载均衡或云主机。".to_string(),
        codes::BACKEND_LIMIT => match paren_number(m) {
            Some(n) => format!("该后端资源的终端节点服务已达上限（{n} 个）。"),
            None => "该后端资源的终端节点服务已达上限。".to_string(),
        },
        // ---- services and endpoints
        codes::SERVICE_ID_EMPTY => "请选择或输入终端节点服务。".to_string(),
        codes::SERVICE_NOT_FOUND => match word_after(m, "endpoint service ") {
            Some(v) if v != "does" => format!("终端节点服务 {} 不存在。", q(v)),
            _ => "终端节点服务不存在。".to_string(),
        },
        codes::NOT_FOUND => {
            if m.contains("whitelist") {
                "该白名单记录不存在。".to_string()
            } else if m.contains("in this region") {
                "本区域没有该终端节点服务，或您的账号无权连接它。".to_string()
            } else if m.contains("endpoint service") {
                match word_after(m, "endpoint service ").filter(|v| *v != "does") {
                    Some(v) => format!("终端节点服务 {} 不存在。", q(v)),
                    None => "终端节点服务不存在。".to_string(),
                }
            } else {
                "资源不存在。".to_string()
            }
        }
        codes::SERVICE_IN_USE => match word_after(m, "used by ") {
            Some(n) => format!("仍有 {n} 个终端节点连接本服务，请先拒绝或删除它们。"),
            None => M::ServiceDeleteBlocked.t(Lang::Zh).to_string(),
        },
        codes::QUOTA_EXCEEDED => "配额不足，请删除不用的资源或联系运维人员提高配额。".to_string(),
        _ => format!("{}。", error_summary(f.code).t(Lang::Zh)),
    };
    (text, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpcep_control::services::parse_ports;
    use vpcep_core::validate;
    use vpcep_huawei::vpcep::PortListIn;

    fn zh(e: &(impl Clone + Into<ApiError>)) -> Localized {
        localize(e, Lang::Zh)
    }

    /// No English words in a Chinese sentence (quoted user values aside), and Chinese
    /// punctuation next to Chinese text.
    fn assert_chinese(s: &str) {
        let mut unquoted = String::new();
        let mut inside = false;
        for c in s.chars() {
            match c {
                '“' => inside = true,
                '”' => inside = false,
                _ if !inside => unquoted.push(c),
                _ => {}
            }
        }
        let words: Vec<&str> = unquoted
            .split(|c: char| !c.is_ascii_alphabetic() && c != '_')
            .filter(|w| w.len() > 1 && !["TCP", "UDP", "IP", "IPv", "VIP", "ID"].contains(w))
            .collect();
        assert!(words.is_empty(), "English in {s:?}: {words:?}");
        let chars: Vec<char> = s.chars().collect();
        for w in chars.windows(2) {
            let cjk = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
            let half = |c: char| ",:;()!?".contains(c);
            assert!(
                !(cjk(w[0]) && half(w[1]) || half(w[0]) && cjk(w[1])),
                "half-width punctuation in {s:?}"
            );
        }
        assert!(s.ends_with('。'), "{s:?} is not a sentence");
    }

    fn row(proto: &str, server: Option<i64>, client: Option<i64>) -> PortListIn {
        PortListIn {
            protocol: Some(proto.into()),
            server_port: server,
            client_port: client,
        }
    }

    #[test]
    fn a_port_out_of_range_names_the_field_and_the_value() {
        let e = parse_ports(&[row("TCP", Some(70000), Some(80))]).unwrap_err();
        let l = zh(&e);
        assert_eq!(l.msg.text, "服务端口 70000 超出范围 1–65535。");
        assert_eq!(l.msg.code.as_deref(), Some("EndPoint.3043"));
        assert_eq!(l.part, Some(PortPart::Server));
        let e = parse_ports(&[row("TCP", Some(80), Some(0))]).unwrap_err();
        let l = zh(&e);
        assert_eq!(l.msg.text, "终端端口 0 超出范围 1–65535。");
        assert_eq!(l.part, Some(PortPart::Client));
        // English keeps the service layer's message; the code is still apart.
        let en = localize(&e, Lang::En);
        assert!(en.msg.text.contains("client_port 0"), "{en:?}");
        assert_eq!(en.msg.code.as_deref(), Some("EndPoint.3004"));
    }

    #[test]
    fn duplicates_point_at_the_repeated_port() {
        let e = parse_ports(&[
            row("TCP", Some(8080), Some(80)),
            row("TCP", Some(8443), Some(80)),
        ])
        .unwrap_err();
        let l = zh(&e);
        assert_eq!(l.msg.text, "终端端口 80（TCP）重复。");
        assert_eq!(l.part, Some(PortPart::Client));
        assert_eq!(l.duplicate, Some(("TCP".to_string(), 80)));
        let e = parse_ports(&[
            row("UDP", Some(53), Some(53)),
            row("UDP", Some(53), Some(54)),
        ])
        .unwrap_err();
        assert_eq!(zh(&e).msg.text, "服务端口 53（UDP）重复。");
    }

    #[test]
    fn every_form_error_reads_as_chinese() {
        let mut errors: Vec<ApiError> = [
            validate::service_short_name("bad name!").unwrap_err(),
            validate::permission("domain::abc").unwrap_err(),
            parse_ports(&[row("TCP", Some(70000), Some(80))]).unwrap_err(),
            parse_ports(&[row("TCP", None, Some(80))]).unwrap_err(),
            parse_ports(&[row("SCTP", Some(80), Some(80))]).unwrap_err(),
            parse_ports::<PortListIn>(&[]).unwrap_err(),
            parse_ports(&vec![row("TCP", Some(1), Some(1)); 51]).unwrap_err(),
        ]
        .into_iter()
        .map(ApiError::from)
        .collect();
        for (code, msg) in [
            (codes::VPC_NOT_FOUND, "The VPC no-such-vpc does not exist."),
            (codes::PORT_NOT_FOUND, "The port  does not exist."),
            (
                codes::PORT_NOT_IN_VPC,
                "The port p does not belong to VPC v.",
            ),
            (
                codes::INVALID_PORT_IP,
                "Invalid Port IP address '10.0.0.300'.",
            ),
            (
                codes::PORT_IP_NOT_IN_SUBNET,
                "The Port IP 10.0.0.5 is not valid for the subnet 192.168.1.0/24.",
            ),
            (
                codes::PORT_IP_NOT_IN_SUBNET,
                "The Port IP 192.168.1.0 is reserved in subnet 192.168.1.0/24 (network, gateway or broadcast).",
            ),
            (codes::PORT_IP_IN_USE, "The Port IP 192.168.1.9 is in use."),
            (
                codes::SUBNET_NOT_IN_VPC,
                "The current network does not belong to the VPC.",
            ),
            (
                codes::SERVICE_NOT_FOUND,
                "The endpoint service cn-north-4.nope.x does not exist.",
            ),
            (
                codes::SERVICE_ID_EMPTY,
                "The requested endpoint service ID is empty.",
            ),
            (
                codes::NO_PERMISSION_TO_CONNECT,
                "You have no permission to connect.",
            ),
            (
                codes::PORTS_CONFLICT,
                "The parameter ports conflicted with ports in an existing endpoint service: TCP server_port 8080 is already used on this backend.",
            ),
            (
                codes::BACKEND_LIMIT,
                "The maximum of VPC endpoint services using the same backend (5) has been reached.",
            ),
            (
                codes::SERVICE_IN_USE,
                "The endpoint service is being used by 2 endpoint(s): reject or delete them first.",
            ),
            (
                codes::PERMISSION_LIMIT,
                "The maximum number of whitelist records (1000) has been reached.",
            ),
            (codes::QUOTA_EXCEEDED, "Quota exceeded."),
            ("EndPoint.9999", "Something new."),
        ] {
            errors.push(ApiError::new(400, code, msg));
        }
        for e in &errors {
            let l = zh(e);
            assert_chinese(&l.msg.text);
            assert_eq!(l.msg.code.as_deref(), Some(e.code));
        }
        assert_eq!(
            zh(&ApiError::new(
                400,
                codes::PORT_NOT_FOUND,
                "The port  does not exist."
            ))
            .msg
            .text,
            "请选择后端资源。"
        );
        assert_eq!(
            zh(&validate::service_short_name("bad name!").unwrap_err())
                .msg
                .text,
            "名称 “bad name!” 不符合要求：长度 1–16，只能包含字母、数字、下划线（_）和中划线（-）。"
        );
    }

    #[test]
    fn the_code_renders_on_its_own_line() {
        let e = parse_ports(&[row("TCP", Some(70000), Some(80))]).unwrap_err();
        let html = zh(&e).msg.render().into_string();
        assert_eq!(
            html,
            "服务端口 70000 超出范围 1–65535。<span class=\"err-code\">EndPoint.3043</span>"
        );
    }
}
