//! Errors in the user's language: the one place that turns an error of the service layer into
//! console text.
//!
//! The interface is [`localize`]: an error in, a [`Localized`] out (a sentence in the page's
//! language, the error code for a separate detail line, the form field it belongs to and, for a
//! port-mapping row, which input of the row). The sentence is worded from the domain error itself
//! ([`DomainError`]: the field and the offending values are data), in Chinese naming the field in
//! Chinese, or in English by the variant's own wording. Every variant has its Chinese sentence in
//! `chinese`, a `match` without a catch-all, so a new variant fails to compile until worded.
//!
//! The console knows no wire format. The code on the detail line, an error page's HTTP status
//! and which data-plane failure a stored code stands for come from the API front served beside
//! it, handed in as [`ErrorCodes`] when the console is built (`vpcep serve` passes the Huawei
//! front's), so a second front changes the codes without touching a page.

use maud::{Markup, Render, html};
use vpcep_core::agent::Failure;
use vpcep_core::error::{
    CidrProblem, DomainError, Field, IpProblem, Limit, Overlapped, TagProblem, Thing,
};
use vpcep_core::validate::MAX_SERVICE_NAME;

use crate::i18n::{Lang, M};

/// What the console takes from the API front it is served beside. Plain functions: the front
/// is chosen once, when the binary builds the console.
#[derive(Clone, Copy)]
pub struct ErrorCodes {
    /// The code shown on a domain error's detail line (`EndPoint.3043`).
    pub code: fn(&DomainError) -> &'static str,
    /// The HTTP status of a page that shows a domain error.
    pub status: fn(&DomainError) -> u16,
    /// Which data-plane failure a stored failure code stands for (`None`: not one the front
    /// records with a known cause).
    pub stored_failure: fn(&str) -> Option<Failure>,
}

impl std::fmt::Debug for ErrorCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErrorCodes")
    }
}

/// A domain error on its way to a page, with the form field it is shown at (which a page may
/// re-aim: a service looked up by the name typed into `endpoint_service_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct PageError {
    pub error: DomainError,
    pub field: Option<Field>,
}

impl PageError {
    /// Show the error at `field`.
    pub fn on(mut self, field: Field) -> Self {
        self.field = Some(field);
        self
    }
}

impl From<DomainError> for PageError {
    fn from(error: DomainError) -> Self {
        let field = error.field();
        Self { error, field }
    }
}

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

    /// The port field of a mapping (`server_port`, `client_port`), if `field` is one.
    fn of_field(field: Field) -> Option<PortPart> {
        match field {
            "server_port" => Some(PortPart::Server),
            "client_port" => Some(PortPart::Client),
            _ => None,
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

/// What the console reads of an error: the domain error and the form field it is shown at.
pub struct Facts<'a> {
    pub error: &'a DomainError,
    pub field: Option<Field>,
}

/// An error the console can word: a [`DomainError`], or a [`PageError`] aimed at a field.
pub trait ConsoleError {
    fn facts(&self) -> Facts<'_>;
}

impl ConsoleError for DomainError {
    fn facts(&self) -> Facts<'_> {
        Facts {
            error: self,
            field: self.field(),
        }
    }
}

impl ConsoleError for PageError {
    fn facts(&self) -> Facts<'_> {
        Facts {
            error: &self.error,
            field: self.field,
        }
    }
}

/// The error in `lang`: a sentence naming the field and the offending value, the front's code
/// apart.
pub fn localize(e: &impl ConsoleError, lang: Lang, codes: &ErrorCodes) -> Localized {
    let Facts { error, field } = e.facts();
    let zh = chinese(error);
    let text = match lang {
        Lang::Zh => zh.text,
        Lang::En => english(error),
    };
    Localized {
        msg: Msg {
            text,
            code: Some((codes.code)(error).to_string()),
        },
        field,
        part: zh.part,
        duplicate: zh.duplicate,
    }
}

/// The English sentence: the variant's own wording (its `Display`), as a sentence. Internal
/// details stay in the logs.
fn english(e: &DomainError) -> String {
    if let DomainError::Internal { .. } = e {
        return M::ErrSystem.t(Lang::En).to_string() + ".";
    }
    let s = e.to_string();
    // Capitalised, unless it starts with a field's API name (`server_port 0 is …`).
    let starts_with_field = s.split(' ').next().is_some_and(|w| w.contains(['_', '.']));
    let mut chars = s.chars();
    let mut out: String = match chars.next() {
        Some(c) if !starts_with_field => c.to_uppercase().chain(chars).collect(),
        _ => s.clone(),
    };
    if !out.ends_with(['.', '?', '!']) {
        out.push('.');
    }
    out
}

// ---- Chinese ------------------------------------------------------------------------------

/// A value quoted for a Chinese sentence (values from requests, ids, names).
fn q(v: &str) -> String {
    format!("“{v}”")
}

/// The Chinese name of a request field, as the console's forms label it.
pub fn field_zh(field: Field) -> Option<&'static str> {
    Some(match field {
        "service_name" | "name" => "名称",
        "endpoint_service_name" => "终端节点服务名称",
        "description" => "描述",
        "permission.description" => "白名单记录描述",
        "vpc_id" => "虚拟私有云",
        "subnet_id" => "子网",
        "port_id" => "后端资源",
        "server_type" => "后端资源类型",
        "service_type" => "服务类型",
        "tcp_proxy" => "客户端 IP 透传",
        "approval_enabled" => "连接审批",
        "ports" => "端口映射",
        "server_port" => M::ServerPort.t(Lang::Zh),
        "client_port" => M::ClientPort.t(Lang::Zh),
        "protocol" => M::Protocol.t(Lang::Zh),
        "listener port" => "监听端口",
        "member port" => "后端成员端口",
        "port_range_min" => "起始端口",
        "port_range_max" => "结束端口",
        "permissions" => "白名单记录",
        "permission" => "授权账号 ID",
        "permission_type" => "授权类型",
        "endpoint_service_id" => "终端节点服务",
        "id" => "ID",
        "endpoints" => "终端节点",
        "connections" => "连接",
        "port_ip" => M::NodeIp.t(Lang::Zh),
        "ip" => "IP 地址",
        "tags" => "标签",
        "whitelist" => "访问白名单",
        "enable_dns" => M::PrivateDomain.t(Lang::Zh),
        "routetables" => "路由表",
        "policy_statement" => "终端节点策略",
        "policy_document" => "策略文档",
        "limit" => "每页条数",
        "offset" => "偏移量",
        "marker_id" => M::MarkerId.t(Lang::Zh),
        "action" => "操作",
        "sort_key" => "排序字段",
        "sort_dir" => "排序方向",
        "status" => M::Status.t(Lang::Zh),
        "type" | "resource_type" => "资源类型",
        "ip_version" => "IP 版本",
        "ethertype" => "以太网类型",
        "direction" => "方向",
        "cidr" => M::Cidr.t(Lang::Zh),
        "gateway_ip" => M::Gateway.t(Lang::Zh),
        "dns_list" => "DNS 服务器",
        "nics" => M::Nics.t(Lang::Zh),
        "fixed_ips" => "固定 IP",
        "members.address" => "后端成员地址",
        "remote_ip_prefix" => "源地址网段",
        "remote_group_id" => "源安全组",
        "region" => M::Region.t(Lang::Zh),
        "from" => "开始时间",
        "to" => "结束时间",
        _ => return None,
    })
}

/// A field named in a Chinese sentence: its Chinese name, or (a field the table does not know
/// yet) the API name quoted as a parameter.
fn label(field: Field) -> String {
    match field_zh(field) {
        Some(l) => l.to_string(),
        None => format!("参数 {}", q(field)),
    }
}

fn thing_zh(t: Thing) -> &'static str {
    match t {
        Thing::Vpc => "虚拟私有云",
        Thing::Subnet | Thing::Network => "子网",
        Thing::Port => "网卡",
        Thing::SecurityGroup => "安全组",
        Thing::SecurityGroupRule => "安全组规则",
        Thing::Server => "云主机",
        Thing::LoadBalancer => "负载均衡",
        Thing::Site => "站点",
        Thing::EndpointService => "终端节点服务",
        Thing::Endpoint => "终端节点",
        Thing::Permission => "白名单记录",
    }
}

/// The kinds counted in `VpcNotEmpty` and `QuotaExceeded` (`what`, an English plural).
fn what_zh(what: &str) -> &'static str {
    match what {
        "subnets" => "子网",
        "servers" => "云主机",
        "load balancers" => "负载均衡",
        "sites" => "站点",
        "endpoint services" => "终端节点服务",
        "endpoints" => "终端节点",
        "ports" => "网卡",
        _ => "资源",
    }
}

/// Allowed values, each quoted: `“VM”、“LB”`.
fn choices(allowed: &[&str]) -> String {
    allowed.iter().map(|a| q(a)).collect::<Vec<_>>().join("、")
}

/// A Chinese sentence and, for a port mapping, the input of the row and the repeated port.
struct Zh {
    text: String,
    part: Option<PortPart>,
    duplicate: Option<(String, u16)>,
}

impl From<String> for Zh {
    fn from(text: String) -> Self {
        Zh {
            text,
            part: None,
            duplicate: None,
        }
    }
}

impl From<&str> for Zh {
    fn from(text: &str) -> Self {
        text.to_string().into()
    }
}

/// The Chinese sentence for each domain error: the field in Chinese, the offending value quoted,
/// full-width punctuation. No catch-all: a new variant fails to compile until worded here.
fn chinese(e: &DomainError) -> Zh {
    use DomainError::*;
    const RANGE: &str = "1–65535";
    let port_row = |text: String, part: PortPart| Zh {
        text,
        part: Some(part),
        duplicate: None,
    };
    match e {
        // ---- the request's shape
        Missing { field } => match *field {
            "ports" => "请至少填写一条端口映射。".into(),
            "permissions" => M::PermsEmpty.t(Lang::Zh).into(),
            "endpoint_service_id" => "请选择或输入终端节点服务。".into(),
            "vpc_id" | "subnet_id" | "port_id" | "server_type" => {
                format!("请选择{}。", label(field)).into()
            }
            "tags" => "标签不能为空。".into(),
            f => format!("{}不能为空。", label(f)).into(),
        },
        Incomplete { field } => match *field {
            "ports" => "每条端口映射都需要填写服务端口和终端端口。".into(),
            "permissions" => "每条白名单记录都需要填写授权账号 ID。".into(),
            "connections" => "每个连接都需要填写 ID 和描述。".into(),
            f => format!("{}中有一项不完整。", label(f)).into(),
        },
        TooMany { field, max } => match *field {
            "ports" => format!("单次最多添加 {max} 条端口映射。").into(),
            "permissions" => format!("单次最多添加 {max} 条白名单记录。").into(),
            "connections" => format!("单次最多操作 {max} 个连接。").into(),
            "whitelist" => format!("访问白名单最多 {max} 条。").into(),
            "tags" => format!("每个资源最多 {max} 个标签。").into(),
            "endpoints" if *max == 1 => "只能指定一个终端节点。".into(),
            f => format!("{}最多 {max} 项。", label(f)).into(),
        },
        CountOutOfRange { field, min, max } => {
            format!("{}需要 {min}–{max} 项。", label(field)).into()
        }
        TooLong { field, max } => format!("{}不能超过 {max} 个字符。", label(field)).into(),
        AngleBrackets { field } => format!("{}不能包含“<”或“>”。", label(field)).into(),
        Unsupported {
            field,
            value,
            allowed,
        } => match (*field, allowed.is_empty()) {
            ("server_type", _) => format!(
                "{} {} 无效，请选择负载均衡或云主机。",
                label(field),
                q(value)
            )
            .into(),
            ("service_type", false) => "只能创建接口类型的终端节点服务。".into(),
            (f, true) => format!("{} {} 无效。", label(f), q(value)).into(),
            (f, false) => format!(
                "{} {} 无效，可选值：{}。",
                label(f),
                q(value),
                choices(allowed)
            )
            .into(),
        },
        ExclusiveFields { first, second } => format!(
            "{}和{}只能填写其中一个。",
            label(first),
            label(second)
        )
        .into(),
        NotModifiable { field } => format!("{}创建后不能修改。", label(field)).into(),

        // ---- values
        PortOutOfRange { field, value } => match PortPart::of_field(field) {
            Some(part) => port_row(
                format!("{} {value} 超出范围 {RANGE}。", label(field)),
                part,
            ),
            None => format!("{} {value} 超出范围 {RANGE}。", label(field)).into(),
        },
        DuplicatePort {
            field,
            port,
            protocol,
        } => {
            let proto = protocol.as_str();
            Zh {
                text: format!("{} {port}（{proto}）重复。", label(field)),
                part: Some(PortPart::of_field(field).unwrap_or(PortPart::Server)),
                duplicate: Some((proto.to_string(), *port)),
            }
        }
        BackendPortTaken { protocol, port } => port_row(
            format!(
                "该后端资源的服务端口 {port}（{}）已被其他终端节点服务使用。",
                protocol.as_str()
            ),
            PortPart::Server,
        ),
        DuplicateListener { protocol, port } => {
            format!("监听器（{} {port}）重复。", protocol.as_str()).into()
        }
        InvalidProtocol { value } => port_row(
            format!("协议 {} 无效，请选择 TCP 或 UDP。", q(value)),
            PortPart::Protocol,
        ),
        InvalidServiceName { value, .. } => format!(
            "名称 {} 不符合要求：长度 1–{MAX_SERVICE_NAME}，只能包含字母、数字、下划线（_）和中划线（-）。",
            q(value)
        )
        .into(),
        InvalidResourceName { field, value } => format!(
            "{} {} 不符合要求：长度 1–64，只能包含字母、数字、下划线（_）、中划线（-）和点（.）。",
            label(field),
            q(value)
        )
        .into(),
        InvalidTag { key, problem } => match problem {
            TagProblem::KeyEmpty => "标签键不能为空。".into(),
            TagProblem::KeyTooLong => format!("标签键 {} 过长：长度须为 1–128 个字符。", q(key)).into(),
            TagProblem::ValueTooLong => {
                format!("标签 {} 的值过长：最多 255 个字符。", q(key)).into()
            }
            TagProblem::ForbiddenCharacter => format!(
                "标签 {} 含有不允许的字符（控制字符或“<”“>”“=”“,”）。",
                q(key)
            )
            .into(),
        },
        DuplicateTagKey { key } => format!("标签键 {} 重复。", q(key)).into(),
        InvalidPermission { value } => format!(
            "授权账号 ID {} 格式不正确，请填写“iam:domain::”加账号 ID，或填写 * 允许所有账号。",
            q(value)
        )
        .into(),
        InvalidWhitelistEntry { value } => format!(
            "访问白名单 {} 格式不正确，请填写 IPv4 地址或网段，例如 10.0.0.0/24。",
            q(value)
        )
        .into(),
        InvalidCidr {
            field,
            value,
            problem,
        } => {
            let f = label(field);
            let v = q(value);
            match problem {
                CidrProblem::Malformed => {
                    format!("{f} {v} 格式不正确，请填写如 192.168.0.0/24 的网段。").into()
                }
                CidrProblem::HostBits { network } => {
                    format!("{f} {v} 的主机位不为零，应为 {network}。").into()
                }
                CidrProblem::PrefixLength => {
                    format!("{f} {v} 的掩码长度须在 8 到 29 之间。").into()
                }
                CidrProblem::Reserved { reserved } => {
                    format!("{f} {v} 与终端节点流量保留的网段 {reserved} 重叠。").into()
                }
            }
        }
        InvalidAddress { field, value } => match *field {
            "remote_ip_prefix" => {
                format!("{} {} 不是有效的 IPv4 地址或网段。", label(field), q(value)).into()
            }
            f => format!("{} {} 不是有效的 IPv4 地址。", label(f), q(value)).into(),
        },
        GatewayNotHost { gateway, cidr } => {
            format!("网关 {gateway} 不是网段 {cidr} 中的主机地址。").into()
        }
        PortIp { ip, problem } => match problem {
            IpProblem::NotInSubnet { cidr } => {
                format!("节点 IP {ip} 不在子网 {cidr} 的地址范围内。").into()
            }
            IpProblem::Reserved { cidr } => format!(
                "节点 IP {ip} 是子网 {cidr} 的保留地址（网络地址、网关或广播地址）。"
            )
            .into(),
            IpProblem::InUse => format!("节点 IP {ip} 已被占用。").into(),
        },
        SubnetFull { cidr } => format!("子网 {cidr} 没有可用的地址。").into(),
        CidrOutsideVpc { cidr, vpc_cidr } => {
            format!("子网网段 {cidr} 不在虚拟私有云网段 {vpc_cidr} 内。").into()
        }
        CidrLeavesOutSubnet {
            cidr,
            subnet_name,
            subnet_cidr,
        } => format!(
            "新网段 {cidr} 未包含子网 {}（{subnet_cidr}）。",
            q(subnet_name)
        )
        .into(),
        CidrOverlap { cidr, with } => match with {
            Overlapped::Subnet { name, cidr: other } => format!(
                "子网网段 {cidr} 与本虚拟私有云的子网 {}（{other}）重叠。",
                q(name)
            )
            .into(),
            Overlapped::Vpc { cidr: vpc } => format!(
                "站点网段 {cidr} 与虚拟私有云网段 {vpc} 重叠：两端须为不同的网段。"
            )
            .into(),
            Overlapped::Site { name, cidr: other } => {
                format!("站点网段 {cidr} 与站点 {}（{other}）重叠。", q(name)).into()
            }
        },
        PortRangeNeedsProtocol => "指定端口范围时，协议须为 TCP 或 UDP。".into(),
        PortRangeReversed => "起始端口不能大于结束端口。".into(),
        FixedIpOutsideNetwork => "固定 IP 所在的子网不属于所选网络。".into(),
        InvalidPolicyStatement => {
            "终端节点策略无效：每条语句都需要“Effect”（“Allow”或“Deny”）、“Action”和“Resource”。"
                .into()
        }
        PolicyDocumentNotObject => "策略文档须为 JSON 对象。".into(),
        InvalidRouteTable => "路由表 ID 无效。".into(),
        InvalidLimit { value, max } => {
            format!("每页条数 {} 无效，请填写 0–{max} 的整数。", q(value)).into()
        }
        InvalidQueryValue { field, value } => {
            format!("查询参数 {} 的值 {} 无效。", q(field), q(value)).into()
        }
        InvalidOffset { value } => {
            format!("偏移量 {} 无效，请填写不小于 0 的整数。", q(value)).into()
        }
        FilterLimitOutOfRange { value } => {
            format!("每页条数 {value} 超出范围 1–1000。").into()
        }
        NegativeOffset { value } => format!("偏移量 {value} 不能为负数。").into(),
        InvalidMarkerId { value } => format!("标记 ID {} 无效。", q(value)).into(),
        InvalidTime { field, value } => format!(
            "{}{} 无效：请填写带时区的时间（如 {}）或毫秒时间戳；结束时间不能早于开始时间，跨度不超过一年。",
            if *field == "from" { "开始时间" } else { "结束时间" },
            q(value),
            q("2026-01-01T00:00:00Z")
        )
        .into(),
        InvalidRegion { value } => format!(
            "区域 {} 无效：只能包含小写字母、数字和中划线（-）。",
            q(value)
        )
        .into(),
        QuotaValueOutOfRange { value } => {
            format!("配额 {value} 超出范围 0–1000000。").into()
        }
        IpNotTaken => "接口类型的终端节点服务不需要填写 IP 地址。".into(),

        // ---- what exists
        NotFound { kind, id } if id.is_empty() => {
            format!("缺少{} ID。", thing_zh(*kind)).into()
        }
        NotFound { kind, id } => format!("{} {} 不存在。", thing_zh(*kind), q(id)).into(),
        UnknownReference { field, kind, id } => {
            let name = field_zh(field).unwrap_or(thing_zh(*kind));
            if id.is_empty() {
                format!("请选择{name}。").into()
            } else {
                format!("{name} {} 不存在。", q(id)).into()
            }
        }
        ServiceNotInRegion => "本区域没有该终端节点服务，或您的账号无权连接它。".into(),
        AccountNotFound { name } => format!("账号 {} 不存在。", q(name)).into(),
        NoProjectInRegion { account, region } => {
            format!("账号 {} 在区域 {} 没有项目。", q(account), q(region)).into()
        }
        AccountExists { name } => format!("账号名 {} 已存在。", q(name)).into(),
        ProjectExists { account, region } => {
            format!("账号 {} 在区域 {} 已有项目。", q(account), q(region)).into()
        }
        SubnetNotInVpc { subnet_id, vpc_id } => format!(
            "子网 {} 不属于虚拟私有云 {}。",
            q(subnet_id),
            q(vpc_id)
        )
        .into(),
        PortNotInVpc { port_id, vpc_id } => format!(
            "后端资源 {} 不在虚拟私有云 {} 中。",
            q(port_id),
            q(vpc_id)
        )
        .into(),
        NotLoadBalancerVip { port_id } => format!(
            "后端资源 {} 不是负载均衡的 VIP，请把后端资源类型选为“云主机”。",
            q(port_id)
        )
        .into(),
        LoadBalancerVipAsVm { port_id } => format!(
            "所选网卡 {} 是负载均衡的 VIP，请把后端资源类型选为“增强型负载均衡”。",
            q(port_id)
        )
        .into(),
        DuplicateRule => "安全组中已有相同的规则。".into(),

        // ---- what is in use
        VpcNotEmpty { count, what } => format!(
            "虚拟私有云中仍有 {count} 个{}，请先删除。",
            what_zh(what)
        )
        .into(),
        SubnetNotEmpty { ports, endpoints } => format!(
            "子网中仍有 {ports} 个网卡和 {endpoints} 个终端节点，请先删除。"
        )
        .into(),
        SecurityGroupInUse { ports } => format!("安全组仍被 {ports} 个网卡使用。").into(),
        PortOwned {
            device_owner,
            device_id,
        } => format!(
            "该网卡属于 {} {}，请删除该资源。",
            q(device_owner),
            q(device_id)
        )
        .into(),
        PortBacksService { service_name } => format!(
            "该网卡是终端节点服务 {} 的后端资源，请先删除该服务。",
            q(service_name)
        )
        .into(),
        ServiceInUse { endpoints } => {
            format!("仍有 {endpoints} 个终端节点连接本服务，请先拒绝或删除它们。").into()
        }

        // ---- status and permission
        ServiceNotModifiable => "终端节点服务的当前状态不允许修改。".into(),
        ServiceUnavailable => "终端节点服务不可用。".into(),
        EndpointDeleting => "终端节点正在删除中。".into(),
        EndpointFailed => "终端节点处于失败状态，不能修改。".into(),
        NoPolicy => "终端节点没有关联策略。".into(),
        EndpointNotOfService => "该终端节点不属于本终端节点服务。".into(),
        NotWhitelisted => format!("{}。", M::ErrNoPermission.t(Lang::Zh)).into(),
        QuotaExceeded { what, quota } => format!(
            "配额不足：每个账号最多 {quota} 个{}，请删除不用的资源或联系运维人员提高配额。",
            what_zh(what)
        )
        .into(),
        LimitReached { limit, max } => match limit {
            Limit::PermissionsPerService => format!("白名单记录已达上限（{max} 条）。").into(),
            Limit::ServicesPerBackend => {
                format!("该后端资源的终端节点服务已达上限（{max} 个）。").into()
            }
        },
        Forbidden => "您无权操作该项目。".into(),

        // ---- the system
        NulInText => "文本中不能包含空字符（U+0000）。".into(),
        Internal { .. } => format!("{}。", M::ErrSystem.t(Lang::Zh)).into(),
    }
}

// ---- the data plane's failures ---------------------------------------------------------------

/// Why the data plane failed an object, in `lang`: a sentence, and the stored code and the data
/// plane's own words for the detail line. The store keeps the failure as the Huawei front worded
/// it (code and message); the code says which [`Failure`] it was.
pub fn failure(lang: Lang, codes: &ErrorCodes, code: &str, message: &str) -> Msg {
    let text = match lang {
        Lang::Zh => failure_zh((codes.stored_failure)(code).as_ref()),
        Lang::En => message.to_string(),
    };
    Msg {
        text,
        code: Some(code.to_string()),
    }
}

/// A data-plane failure in Chinese (the namespace's kernel answer is only on the detail line).
fn failure_zh(f: Option<&Failure>) -> String {
    match f {
        Some(Failure::ServiceUnavailable) => {
            "数据面未能完成配置：所连接的终端节点服务已不可用（已删除、失败或正在删除）。".into()
        }
        Some(Failure::BackendGone) => "数据面未能完成配置：后端资源已不存在。".into(),
        Some(Failure::Namespace { namespace, .. }) => format!(
            "数据面未能完成配置：网络命名空间 {} 配置失败。",
            q(namespace)
        ),
        None => format!("{}。", M::DataPlaneFailed.t(Lang::Zh)),
    }
}

#[cfg(test)]
mod tests {
    use vpcep_control::services::parse_ports;
    use vpcep_core::model::Protocol::{TCP, UDP};
    use vpcep_core::validate;
    use vpcep_huawei::error::{stored_data_plane_failure, vpcep_code, vpcep_status};
    use vpcep_huawei::vpcep::PortListIn;

    use super::*;

    /// The Huawei front's codes, as `vpcep serve` hands them to the console.
    const HUAWEI: ErrorCodes = ErrorCodes {
        code: vpcep_code,
        status: vpcep_status,
        stored_failure: stored_data_plane_failure,
    };

    fn zh(e: &impl ConsoleError) -> Localized {
        localize(e, Lang::Zh, &HUAWEI)
    }

    fn en(e: &impl ConsoleError) -> Localized {
        localize(e, Lang::En, &HUAWEI)
    }

    /// No English words in a Chinese sentence (quoted values, ids and codes aside), Chinese
    /// punctuation next to Chinese text, and a full stop at the end.
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
            .filter(|w| {
                w.len() > 1 && !["TCP", "UDP", "IP", "IPv", "VIP", "ID", "DNS", "JSON"].contains(w)
            })
            .collect();
        assert!(words.is_empty(), "English in {s:?}: {words:?}");
        assert!(
            unquoted
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "no Chinese in {s:?}"
        );
        let chars: Vec<char> = s.chars().collect();
        for w in chars.windows(2) {
            let cjk = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
            let half = |c: char| ",:;()!?".contains(c);
            assert!(
                !(cjk(w[0]) && half(w[1]) || half(w[0]) && cjk(w[1])),
                "half-width punctuation in {s:?}"
            );
        }
        // The browser test's rule: no two ASCII words in a row, joined by spaces or ASCII
        // punctuation.
        let sep = |c: char| " ,.;:'!?-".contains(c);
        let mut words_in_a_row = 0;
        let mut run = String::new();
        for c in unquoted.chars().chain(['。']) {
            if c.is_ascii_alphabetic() {
                run.push(c);
                continue;
            }
            if run.len() >= 2 {
                words_in_a_row += 1;
                assert!(words_in_a_row < 2, "English phrase in {s:?}");
            } else if !run.is_empty() {
                words_in_a_row = 0;
            }
            run.clear();
            if !sep(c) {
                words_in_a_row = 0;
            }
        }
        assert!(s.ends_with('。'), "{s:?} is not a sentence");
    }

    #[test]
    #[should_panic(expected = "English")]
    fn the_check_catches_the_old_wording() {
        assert_chinese("端口映射有误：server_port 70000 is out of range 1-65535。");
    }

    #[test]
    #[should_panic(expected = "half-width")]
    fn the_check_catches_half_width_punctuation() {
        assert_chinese("后端资源有误:端口。");
    }

    /// Every variant once (and the field-dependent ones per field).
    #[rustfmt::skip]
    fn cases() -> Vec<DomainError> {
        use DomainError::*;
        let s = |v: &str| v.to_string();
        vec![
            Missing { field: "port_id" }, Missing { field: "vpc_id" },
            Missing { field: "endpoint_service_id" }, Missing { field: "subnet_id" },
            Missing { field: "server_type" }, Missing { field: "ports" }, Missing { field: "tags" },
            Missing { field: "permissions" }, Missing { field: "routetables" }, Missing { field: "cidr" },
            Missing { field: "endpoints" },
            Incomplete { field: "ports" }, Incomplete { field: "connections" },
            Incomplete { field: "permissions" },
            TooMany { field: "ports", max: 200 }, TooMany { field: "tags", max: 20 },
            TooMany { field: "whitelist", max: 20 }, TooMany { field: "permissions", max: 200 },
            TooMany { field: "connections", max: 200 }, TooMany { field: "endpoints", max: 1 },
            TooMany { field: "fixed_ips", max: 1 },
            CountOutOfRange { field: "nics", min: 1, max: 8 },
            TooLong { field: "description", max: 512 },
            TooLong { field: "permission.description", max: 256 },
            AngleBrackets { field: "description" },
            Unsupported { field: "server_type", value: s("X"), allowed: &["VM", "LB"] },
            Unsupported { field: "tcp_proxy", value: s("x"), allowed: &["close", "toa_open", "proxy_open", "open"] },
            Unsupported { field: "service_type", value: s("gateway"), allowed: &["interface"] },
            Unsupported { field: "service_type", value: s("x"), allowed: &[] },
            Unsupported { field: "status", value: s("x"), allowed: &[] },
            Unsupported { field: "ip_version", value: s("ipv6"), allowed: &["ipv4"] },
            Unsupported { field: "action", value: s("x"), allowed: &["receive", "reject"] },
            Unsupported { field: "permission_type", value: s("x"), allowed: &["domainId", "orgPath"] },
            Unsupported { field: "resource_type", value: s("x"), allowed: &["endpoint_service", "endpoint"] },
            Unsupported { field: "type", value: s("x"), allowed: &["endpoint_service", "endpoint"] },
            Unsupported { field: "sort_key", value: s("x"), allowed: &["create_at", "update_at"] },
            Unsupported { field: "sort_dir", value: s("x"), allowed: &["asc", "desc"] },
            Unsupported { field: "direction", value: s("x"), allowed: &["ingress", "egress"] },
            Unsupported { field: "ethertype", value: s("IPv6"), allowed: &["IPv4"] },
            Unsupported { field: "protocol", value: s("gre"), allowed: &["tcp", "udp", "icmp"] },
            ExclusiveFields { first: "id", second: "endpoint_service_name" },
            ExclusiveFields { first: "remote_ip_prefix", second: "remote_group_id" },
            NotModifiable { field: "port_id" }, NotModifiable { field: "ip" },
            PortOutOfRange { field: "client_port", value: 0 },
            PortOutOfRange { field: "server_port", value: 70000 },
            PortOutOfRange { field: "listener port", value: -1 },
            PortOutOfRange { field: "member port", value: 0 },
            PortOutOfRange { field: "port_range_min", value: 0 },
            PortOutOfRange { field: "port_range_max", value: 70000 },
            DuplicatePort { field: "client_port", port: 80, protocol: TCP },
            BackendPortTaken { protocol: UDP, port: 53 },
            DuplicateListener { protocol: TCP, port: 80 },
            InvalidProtocol { value: s("SCTP") },
            InvalidServiceName { field: "service_name", value: s("a b") },
            InvalidServiceName { field: "endpoint_service_name", value: s("a b") },
            InvalidResourceName { field: "name", value: s("a b") },
            InvalidTag { key: s(""), problem: TagProblem::KeyEmpty },
            InvalidTag { key: s("k"), problem: TagProblem::KeyTooLong },
            InvalidTag { key: s("k"), problem: TagProblem::ValueTooLong },
            InvalidTag { key: s("k="), problem: TagProblem::ForbiddenCharacter },
            DuplicateTagKey { key: s("k") },
            InvalidPermission { value: s("x") },
            InvalidWhitelistEntry { value: s("x") },
            InvalidCidr { field: "cidr", value: s("x"), problem: CidrProblem::Malformed },
            InvalidCidr { field: "cidr", value: s("10.0.0.1/8"), problem: CidrProblem::HostBits { network: s("10.0.0.0/8") } },
            InvalidCidr { field: "cidr", value: s("10.0.0.0/30"), problem: CidrProblem::PrefixLength },
            InvalidCidr { field: "cidr", value: s("198.19.0.0/16"), problem: CidrProblem::Reserved { reserved: s("198.19.128.0/20") } },
            InvalidAddress { field: "port_ip", value: s("x") },
            InvalidAddress { field: "gateway_ip", value: s("x") },
            InvalidAddress { field: "dns_list", value: s("x") },
            InvalidAddress { field: "members.address", value: s("x") },
            InvalidAddress { field: "remote_ip_prefix", value: s("x") },
            GatewayNotHost { gateway: s("10.0.0.0"), cidr: s("10.0.0.0/24") },
            PortIp { ip: s("10.1.0.1"), problem: IpProblem::NotInSubnet { cidr: s("10.0.0.0/24") } },
            PortIp { ip: s("10.0.0.1"), problem: IpProblem::Reserved { cidr: s("10.0.0.0/24") } },
            PortIp { ip: s("10.0.0.9"), problem: IpProblem::InUse },
            SubnetFull { cidr: s("10.0.0.0/29") },
            CidrOutsideVpc { cidr: s("10.1.0.0/24"), vpc_cidr: s("10.0.0.0/16") },
            CidrLeavesOutSubnet { cidr: s("10.0.0.0/24"), subnet_name: s("b"), subnet_cidr: s("10.0.1.0/24") },
            CidrOverlap { cidr: s("10.0.0.0/24"), with: Overlapped::Subnet { name: s("a"), cidr: s("10.0.0.0/25") } },
            CidrOverlap { cidr: s("10.0.0.0/24"), with: Overlapped::Vpc { cidr: s("10.0.0.0/16") } },
            CidrOverlap { cidr: s("172.16.0.0/24"), with: Overlapped::Site { name: s("hq"), cidr: s("172.16.0.0/16") } },
            PortRangeNeedsProtocol, PortRangeReversed, FixedIpOutsideNetwork,
            InvalidPolicyStatement, PolicyDocumentNotObject, InvalidRouteTable,
            InvalidLimit { value: s("x"), max: 1000 },
            InvalidOffset { value: s("-1") },
            InvalidQueryValue { field: "from", value: s("x") },
            FilterLimitOutOfRange { value: 0 },
            NegativeOffset { value: -1 },
            InvalidMarkerId { value: s("x") },
            InvalidTime { field: "from", value: s("x") },
            InvalidRegion { value: s("X") },
            QuotaValueOutOfRange { value: -1 },
            IpNotTaken,
            NotFound { kind: Thing::EndpointService, id: s("s1") },
            NotFound { kind: Thing::Endpoint, id: s("e1") },
            NotFound { kind: Thing::Permission, id: s("p1") },
            NotFound { kind: Thing::Vpc, id: s("") },
            UnknownReference { field: "vpc_id", kind: Thing::Vpc, id: s("v1") },
            UnknownReference { field: "port_id", kind: Thing::Port, id: s("p1") },
            UnknownReference { field: "port_id", kind: Thing::Port, id: s("") },
            UnknownReference { field: "endpoint_service_id", kind: Thing::EndpointService, id: s("s1") },
            UnknownReference { field: "subnet_id", kind: Thing::Subnet, id: s("n1") },
            UnknownReference { field: "network_id", kind: Thing::Network, id: s("n1") },
            ServiceNotInRegion,
            AccountNotFound { name: s("bob") },
            NoProjectInRegion { account: s("bob"), region: s("cn-north-4") },
            AccountExists { name: s("bob") },
            ProjectExists { account: s("bob"), region: s("cn-north-4") },
            SubnetNotInVpc { subnet_id: s("n1"), vpc_id: s("v1") },
            PortNotInVpc { port_id: s("p1"), vpc_id: s("v1") },
            NotLoadBalancerVip { port_id: s("p1") },
            LoadBalancerVipAsVm { port_id: s("p1") },
            DuplicateRule,
            VpcNotEmpty { count: 2, what: "subnets" },
            VpcNotEmpty { count: 1, what: "load balancers" },
            SubnetNotEmpty { ports: 1, endpoints: 2 },
            SecurityGroupInUse { ports: 3 },
            PortOwned { device_owner: s("compute:lab"), device_id: s("d1") },
            PortBacksService { service_name: s("svc") },
            ServiceInUse { endpoints: 2 },
            ServiceNotModifiable, ServiceUnavailable, EndpointDeleting, EndpointFailed, NoPolicy,
            EndpointNotOfService, NotWhitelisted,
            QuotaExceeded { what: "endpoints", quota: 50 },
            QuotaExceeded { what: "endpoint services", quota: 20 },
            LimitReached { limit: Limit::PermissionsPerService, max: 1000 },
            LimitReached { limit: Limit::ServicesPerBackend, max: 5 },
            Forbidden, NulInText,
            Internal { detail: s("store: disk I/O error") },
        ]
    }

    #[test]
    fn every_variant_reads_as_chinese_with_its_code_apart() {
        for e in cases() {
            let l = zh(&e);
            assert_chinese(&l.msg.text);
            // The code is the front's, on the detail line only.
            let code = vpcep_code(&e);
            assert_eq!(l.msg.code.as_deref(), Some(code), "{e:?}");
            assert!(!l.msg.text.contains(code), "{e:?}");
            assert_eq!(l.field, e.field(), "{e:?}");
            // Through the `PageError` the pages hold, the same words.
            assert_eq!(zh(&PageError::from(e.clone())), l, "{e:?}");
            // English: the variant's own wording, as a sentence.
            let en = en(&e).msg.text;
            assert!(en.ends_with('.'), "{en:?}");
            assert!(
                !en.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{en:?}"
            );
        }
    }

    #[test]
    fn the_field_is_named_in_chinese_with_the_offending_value() {
        let t = |e: DomainError| zh(&e).msg.text;
        assert_eq!(
            t(DomainError::UnknownReference {
                field: "port_id",
                kind: Thing::Port,
                id: "no-such-port".into()
            }),
            "后端资源 “no-such-port” 不存在。"
        );
        // An empty id asks for a choice (never "The port  does not exist").
        assert_eq!(
            t(DomainError::UnknownReference {
                field: "port_id",
                kind: Thing::Port,
                id: String::new()
            }),
            "请选择后端资源。"
        );
        assert_eq!(
            t(DomainError::UnknownReference {
                field: "vpc_id",
                kind: Thing::Vpc,
                id: "no-such-vpc".into()
            }),
            "虚拟私有云 “no-such-vpc” 不存在。"
        );
        assert_eq!(
            t(DomainError::InvalidAddress {
                field: "port_ip",
                value: "10.0.0.300".into()
            }),
            "节点 IP “10.0.0.300” 不是有效的 IPv4 地址。"
        );
        assert_eq!(
            t(DomainError::TooLong {
                field: "description",
                max: 512
            }),
            "描述不能超过 512 个字符。"
        );
        assert_eq!(
            t(validate::permission("domain::abc").unwrap_err()),
            "授权账号 ID “domain::abc” 格式不正确，请填写“iam:domain::”加账号 ID，或填写 * 允许所有账号。"
        );
        assert_eq!(
            t(validate::service_short_name("bad name!").unwrap_err()),
            "名称 “bad name!” 不符合要求：长度 1–16，只能包含字母、数字、下划线（_）和中划线（-）。"
        );
        // Internal details stay in the logs, in both languages.
        let e = DomainError::internal("store: disk I/O error");
        assert_eq!(t(e.clone()), "系统错误，请稍后重试。");
        assert_eq!(en(&e).msg.text, "System error, please retry.");
        // A page's re-aimed field wins over the variant's.
        let api = PageError::from(DomainError::ServiceNotInRegion).on("endpoint_service_id");
        assert_eq!(zh(&api).field, Some("endpoint_service_id"));
        // Every field the table knows has a Chinese name; an unknown one is quoted, not bare.
        assert_eq!(label("no_such_field"), "参数 “no_such_field”");
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
        // English is the variant's own wording; the code is still apart.
        let english = en(&e);
        assert_eq!(english.msg.text, "client_port 0 is out of range 1-65535.");
        assert_eq!(
            en(&DomainError::ServiceNotInRegion).msg.text,
            "No such endpoint service in this region."
        );
        assert_eq!(english.msg.code.as_deref(), Some("EndPoint.3004"));
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
        assert_eq!(zh(&e).duplicate, Some(("UDP".to_string(), 53)));
    }

    #[test]
    fn every_form_error_reads_as_chinese() {
        let errors = [
            validate::service_short_name("bad name!").unwrap_err(),
            validate::permission("domain::abc").unwrap_err(),
            parse_ports(&[row("TCP", Some(70000), Some(80))]).unwrap_err(),
            parse_ports(&[row("TCP", None, Some(80))]).unwrap_err(),
            parse_ports(&[row("SCTP", Some(80), Some(80))]).unwrap_err(),
            parse_ports::<PortListIn>(&[]).unwrap_err(),
            parse_ports(&vec![row("TCP", Some(1), Some(1)); 51]).unwrap_err(),
        ];
        for e in &errors {
            let l = zh(e);
            assert_chinese(&l.msg.text);
            assert_eq!(l.msg.code.as_deref(), Some(vpcep_code(e)));
        }
        assert_eq!(zh(&errors[4]).part, Some(PortPart::Protocol));
        assert_eq!(zh(&errors[5]).msg.text, "请至少填写一条端口映射。");
        // Incomplete rows: no part, the page marks the empty input.
        assert_eq!(zh(&errors[3]).part, None);
    }

    #[test]
    fn the_code_and_status_are_the_fronts() {
        // Another front's codes change the detail line and the status, not the sentence.
        const OTHER: ErrorCodes = ErrorCodes {
            code: |_| "OTHER.1",
            status: |_| 422,
            stored_failure: |_| None,
        };
        let e = DomainError::ServiceNotInRegion;
        let other = localize(&e, Lang::Zh, &OTHER);
        assert_eq!(other.msg.code.as_deref(), Some("OTHER.1"));
        assert_eq!(other.msg.text, zh(&e).msg.text);
        assert_eq!((OTHER.status)(&e), 422);
        assert_eq!(
            (HUAWEI.status)(&DomainError::NotFound {
                kind: Thing::Endpoint,
                id: "x".into()
            }),
            404
        );
    }

    #[test]
    fn data_plane_failures_are_worded_from_their_stored_code() {
        for f in [
            Some(Failure::ServiceUnavailable),
            Some(Failure::BackendGone),
            Some(Failure::Namespace {
                namespace: "vpcep-h-1".into(),
                detail: "EPERM".into(),
            }),
            None,
        ] {
            let (code, message) = vpcep_huawei::error::data_plane_failure(f.as_ref());
            let m = failure(Lang::Zh, &HUAWEI, code, &message);
            assert_chinese(&m.text);
            assert_eq!(m.code.as_deref(), Some(code));
            let en = failure(Lang::En, &HUAWEI, code, &message);
            assert_eq!(en.text, message);
        }
        let (code, message) = vpcep_huawei::error::data_plane_failure(Some(&Failure::BackendGone));
        assert_eq!(
            failure(Lang::Zh, &HUAWEI, code, &message).text,
            "数据面未能完成配置：后端资源已不存在。"
        );
        assert_chinese(&failure_zh(Some(&Failure::Namespace {
            namespace: "vpcep-h-1".into(),
            detail: "EPERM".into(),
        })));
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
