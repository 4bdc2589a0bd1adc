//! Every string the console shows, in one table: Chinese (default) and English.

use vpcep_core::model::{EndpointStatus, ServiceStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" | "zh-cn" => Some(Lang::Zh),
            "en" | "en-US" | "en-us" => Some(Lang::En),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

macro_rules! messages {
    ($($id:ident => $zh:literal, $en:literal;)*) => {
        /// A console string; `M::X.t(lang)` gives its text.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum M { $($id),* }
        impl M {
            pub const ALL: &'static [M] = &[$(M::$id),*];
            pub fn t(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((M::$id, Lang::Zh) => $zh, (M::$id, Lang::En) => $en,)*
                }
            }
        }
    };
}

messages! {
    // shell
    Product => "VPC 终端节点", "VPC Endpoint";
    ConsoleTitle => "管理控制台", "Console";
    SkipToMain => "跳到主要内容", "Skip to main content";
    NavMain => "主导航", "Main navigation";
    NavEndpoints => "终端节点", "Endpoints";
    NavServices => "终端节点服务", "Endpoint services";
    NavQuotas => "配额", "Quotas";
    NavCredentials => "我的凭证", "My credentials";
    NavNetwork => "网络资源", "Network";
    SwitchLang => "English", "中文";
    SwitchLangLabel => "切换到英文", "Switch to Chinese";
    Region => "区域", "Region";
    SwitchRegion => "切换", "Switch";
    SignOut => "退出", "Sign out";
    Account => "账号", "Account";
    // sign-in
    SignInTitle => "登录管理控制台", "Sign in to the console";
    SignInHint => "使用账号的访问密钥（AK）和秘密访问密钥（SK）登录。", "Sign in with an access key (AK) and secret key (SK) of your account.";
    AccessKey => "访问密钥 ID（AK）", "Access key ID (AK)";
    SecretKey => "秘密访问密钥（SK）", "Secret access key (SK)";
    SignIn => "登录", "Sign in";
    BadCredentials => "访问密钥或秘密访问密钥不正确。", "The access key or secret key is not correct.";
    LoginExpired => "登录页面已过期，请重新提交。", "The sign-in page expired; please submit again.";
    ChooseRegion => "选择区域", "Choose a region";
    ChooseRegionHint => "您的账号在多个区域有项目，请选择要管理的区域和项目。", "Your account has projects in several regions; choose the one to manage.";
    Continue => "继续", "Continue";
    Project => "项目", "Project";
    NoProject => "该账号没有任何项目。", "This account has no project.";
    // common
    Create => "创建", "Create";
    CreateNow => "立即创建", "Create now";
    Submit => "提交", "Submit";
    Back => "上一步", "Back";
    Cancel => "取消", "Cancel";
    Ok => "确定", "OK";
    Delete => "删除", "Delete";
    Search => "搜索", "Search";
    Reset => "重置", "Reset";
    Operation => "操作", "Actions";
    Status => "状态", "Status";
    Name => "名称", "Name";
    Id => "ID", "ID";
    CreatedAt => "创建时间", "Created";
    Vpc => "虚拟私有云", "VPC";
    Subnet => "子网", "Subnet";
    Type => "类型", "Type";
    Interface => "接口", "Interface";
    Optional => "可选", "optional";
    Required => "必填", "required";
    Yes => "是", "Yes";
    No => "否", "No";
    On => "开启", "On";
    Off => "关闭", "Off";
    None => "无", "None";
    Total => "共 {n} 条", "{n} in total";
    Empty => "暂无数据", "Nothing here yet";
    ScrollHint => "表格可左右滑动，查看更多列。", "Scroll the table sideways to see more columns.";
    PleaseSelect => "请选择", "Select…";
    FormHasErrors => "请检查标记的字段。", "Please check the marked fields.";
    CsrfFailed => "页面已过期或请求不是从本控制台发出的，请刷新页面后重试。", "The page expired or the request did not come from this console: reload the page and try again.";
    ErrorTitle => "出错了", "Something went wrong";
    NotFoundTitle => "资源不存在", "Not found";
    BackToList => "返回列表", "Back to the list";
    Confirm => "操作确认", "Confirm";
    ConfirmDeleteTitle => "删除确认", "Confirm deletion";
    ConfirmDeleteEndpoint => "确定要删除终端节点 {x} 吗？删除后无法恢复。", "Delete endpoint {x}? This cannot be undone.";
    ConfirmDeleteService => "确定要删除终端节点服务 {x} 吗？删除后无法恢复。", "Delete endpoint service {x}? This cannot be undone.";
    ConfirmRemovePermission => "确定要从白名单中移除 {x} 吗？", "Remove {x} from the whitelist?";
    ConfirmReject => "确定要拒绝终端节点 {x} 的连接吗？", "Reject the connection of endpoint {x}?";
    Deleted => "已提交删除。", "Deletion submitted.";
    Submitted => "任务提交成功。", "Request submitted.";
    Refreshing => "状态自动刷新中", "Status refreshes automatically";
    Details => "详情", "Details";
    BillingMode => "计费方式", "Billing";
    OnDemand => "按需计费", "Pay per use";
    Description => "描述", "Description";
    // statuses
    StCreating => "创建中", "Creating";
    StAvailable => "可连接", "Available";
    StFailed => "失败", "Failed";
    StDeleting => "删除中", "Deleting";
    StDeleted => "已删除", "Deleted";
    StPending => "待接受", "Pending acceptance";
    StAccepted => "已接受", "Accepted";
    StRejected => "已拒绝", "Rejected";
    // endpoints
    Endpoints => "终端节点", "Endpoints";
    EndpointId => "终端节点 ID", "Endpoint ID";
    CreateEndpoint => "创建终端节点", "Create endpoint";
    ServiceName => "服务名称", "Service name";
    NodeIp => "节点 IP", "Node IP";
    PrivateDomain => "内网域名", "Private domain name";
    CreatePrivateDomain => "创建内网域名", "Create a private domain name";
    PrivateDomainHint => "终端节点创建完成后，即可通过内网域名直接访问终端节点。", "Once the endpoint exists, it can be reached by this private domain name.";
    DnsResolves => "已生效：本 VPC 内解析为", "Resolves in this VPC to";
    DnsNotYet => "尚未生效：本 VPC 的解析器还未应答该域名。", "Not resolving yet: this VPC's resolver does not answer it.";
    DnsAfterAccept => "连接被接受后生效。", "Resolves once the connection is accepted.";
    SearchBy => "搜索条件", "Search by";
    SearchByServiceName => "终端节点服务名称", "Endpoint service name";
    SearchByEndpointId => "终端节点 ID", "Endpoint ID";
    SearchText => "搜索内容", "Search text";
    ServiceCategory => "服务类别", "Service category";
    CloudService => "云服务", "Cloud service";
    FindByName => "按名称查找服务", "Find service by name";
    SelectService => "选择服务", "Service";
    NoCloudService => "本区域暂无云服务。", "No cloud service in this region.";
    Verify => "验证", "Verify";
    ServiceFound => "已找到服务", "Service found";
    ServiceNotFound => "未找到服务", "Service not found";
    ServiceNotFoundHint => "请检查区域是否和终端节点服务所在区域一致，或输入的服务名称是否正确。", "Check that the region matches the service's region and that the name is correct.";
    ServiceNameHint => "输入终端节点服务的完整名称，例如 {x}，然后单击“验证”。", "Enter the service's full name, e.g. {x}, then click Verify.";
    RegionHint => "不同区域的资源之间内网不互通。", "Resources in different regions cannot reach each other.";
    RegionSwitchHint => "在页面右上角切换区域。", "Switch the region at the top right.";
    PortIp => "指定节点 IP", "Node IP (optional)";
    PortIpHint => "留空则自动分配子网内的地址。", "Leave empty to get a free address of the subnet.";
    SpecConfirm => "规格确认", "Confirm specifications";
    SpecConfirmHint => "请确认以下配置，无误后单击“提交”；需要修改请单击“上一步”。", "Check the settings below and click Submit, or Back to change them.";
    NoVpc => "本区域还没有虚拟私有云，请先创建网络（CLI：vpcep lab vpc create）。", "No VPC in this region yet: create the network first (CLI: vpcep lab vpc create).";
    EndpointDetail => "终端节点详情", "Endpoint details";
    BasicInfo => "基本信息", "Basic information";
    TrafficTitle => "最近 1 小时", "Last hour";
    Monitoring => "监控", "Monitoring";
    RecentFlows => "最近的连接", "Recent connections";
    RecentFlowsHint => "每条连接建立和结束时各记一条，含两侧地址：后端日志中的 198.19.128.x 源地址对应哪个消费者，在此或用 vpcep service flows --translated 查找。", "One record when a connection starts and one when it ends, with both sides of the translation: find which consumer a 198.19.128.x source in the backend's log is, here or with vpcep service flows --translated.";
    NoFlows => "暂无连接记录。", "No connections recorded.";
    FlowTime => "时间", "Time";
    FlowEvent => "事件", "Event";
    FlowConsumer => "消费者项目", "Consumer project";
    FlowSource => "源地址", "Source";
    FlowTranslated => "后端看到的源地址", "Source the backend saw";
    FlowBackend => "后端地址", "Backend";
    FlowBytes => "字节（去 / 回）", "Bytes (to backend / back)";
    FlowStart => "建立", "Started";
    FlowEnd => "结束", "Ended";
    FlowOverrun => "记录丢失（接收缓冲区满）", "Records lost (receive buffer full)";
    EndClosed => "正常关闭", "closed";
    EndReset => "被重置", "reset";
    EndTimeout => "超时", "timed out";
    EndCut => "被切断（拒绝或删除）", "cut (rejected or deleted)";
    ChartConnections => "新建连接数", "New connections";
    ChartRx => "入方向流量（终端节点 → 服务）", "Bytes in (endpoint → service)";
    ChartTx => "出方向流量（服务 → 终端节点）", "Bytes out (service → endpoint)";
    TrafficSource => "按分钟统计，数据来自网关内核计数器（数据面约每 15 秒上报一次；控制面重启后从零开始绘制）。", "Per minute, from the gateways' kernel counters (the data plane reports about every 15 s; the charts start afresh when the control plane restarts).";
    DomainNames => "内网域名", "Private domain names";
    ServiceId => "终端节点服务 ID", "Endpoint service ID";
    ErrorInfo => "错误信息", "Error";
    // services
    Services => "终端节点服务", "Endpoint services";
    CreateService => "创建终端节点服务", "Create endpoint service";
    ServiceNameShort => "名称", "Name";
    ServiceShortHint => "长度不大于 16，支持大小写字母、数字、下划线、中划线。不填写时名称为 {region}.{service_id}。", "Up to 16 letters, digits, '_' or '-'. Empty: the name is {region}.{service_id}.";
    ServiceType => "服务类型", "Service type";
    ServiceTypeHint => "此处仅支持“接口”类型。", "Only interface services can be created.";
    Approval => "连接审批", "Connection approval";
    ApprovalHint => "开启后，连接本服务的终端节点需要您审批（接受或拒绝）。", "When on, endpoints connecting to this service wait for your approval.";
    PortMappings => "端口映射", "Port mappings";
    Protocol => "协议", "Protocol";
    ServerPort => "服务端口", "Service port";
    ClientPort => "终端端口", "Endpoint port";
    AddPortMapping => "添加端口映射", "Add port mapping";
    RemoveRow => "删除", "Remove";
    PortsLeft => "端口取值范围 1~65535，您本次还可以添加 {n} 条端口映射。", "Ports are 1–65535; you can add {n} more mappings in this operation.";
    PortsLimit => "单次操作最多添加 50 条端口映射。", "At most 50 port mappings per operation.";
    Row => "第 {n} 行", "Row {n}";
    BackendType => "后端资源类型", "Backend type";
    BackendLb => "增强型负载均衡", "Elastic load balancer";
    BackendVm => "云主机", "Cloud host";
    SelectLb => "选择负载均衡", "Load balancer";
    SelectNic => "云主机网卡", "Cloud host NIC";
    PrimaryNic => "主网卡", "primary NIC";
    SecondaryNic => "副网卡", "secondary NIC";
    NoLb => "所选虚拟私有云中没有负载均衡。", "No load balancer in the selected VPC.";
    NoServer => "所选虚拟私有云中没有云主机。", "No cloud host in the selected VPC.";
    NoBackend => "所选虚拟私有云中没有负载均衡或云主机，请先创建（CLI：vpcep lab lb create 或 vpcep lab server create）。", "The selected VPC has no load balancer or cloud host: create one first (CLI: vpcep lab lb create or vpcep lab server create).";
    PickLb => "请选择负载均衡。", "Select a load balancer.";
    PickNic => "请选择云主机网卡。", "Select a cloud host NIC.";
    BackendLimitNote => "同一个后端资源最多只支持创建 5 个终端节点服务。", "At most 5 endpoint services per backend resource.";
    SgNote => "安全组添加的规则是白名单。终端节点服务配置的后端资源所在安全组，需要添加源地址为 198.19.128.0/20 的白名单入方向规则。", "Security group rules are allow-lists: the backend's security group must allow inbound traffic from 198.19.128.0/20.";
    CheckTitle => "后端安全组检查", "Backend security-group check";
    CheckAllOk => "后端资源所在安全组已放通来自 198.19.128.0/20 的全部映射端口。", "The backend's security group admits 198.19.128.0/20 on every mapped port.";
    CheckAdmitted => "后端 {ip}：{proto} {port} 端口已放通 198.19.128.0/20。", "Backend {ip}: {proto} port {port} admits 198.19.128.0/20.";
    CheckNotAdmitted => "后端 {ip} 的安全组 {sg} 没有放通来自 198.19.128.0/20 的 {proto} {port} 端口入方向流量，终端节点访问该端口会失败。", "The security group {sg} of backend {ip} does not admit {proto} port {port} from 198.19.128.0/20: endpoints cannot reach that port.";
    CheckNoListener => "负载均衡 {lb} 没有 {proto} {port} 端口的监听器，该端口映射不会有流量。", "Load balancer {lb} has no {proto} listener on port {port}: that mapping carries no traffic.";
    CheckUnknownMember => "监听器的后端成员 {ip}:{port} 不是本项目中的网卡，无法检查其安全组。", "Listener member {ip}:{port} is not a NIC of this project: its security group cannot be checked.";
    CheckBackendGone => "后端资源 {x} 已不存在。", "The backend {x} no longer exists.";
    CheckFixSg => "修复方法：执行以下命令（或在该安全组中添加相同的入方向规则）：", "Fix: run this command (or add the same inbound rule to the security group):";
    CheckFix => "修复方法：执行以下命令：", "Fix: run this command:";
    DataPlaneFailed => "数据面未能完成配置", "The data plane could not apply it";
    ServiceDetail => "终端节点服务详情", "Endpoint service details";
    Backend => "后端资源", "Backend";
    BackendIp => "后端地址", "Backend address";
    Connections => "连接管理", "Connections";
    Permissions => "权限管理", "Permissions";
    ConnectionCount => "连接数", "Connections";
    Accept => "接受", "Accept";
    Reject => "拒绝", "Reject";
    AccountId => "账号 ID", "Account ID";
    MarkerId => "标记 ID", "Marker ID";
    NoConnections => "还没有终端节点连接本服务。", "No endpoint has connected to this service yet.";
    Whitelist => "白名单", "Whitelist";
    AddWhitelist => "添加白名单记录", "Add whitelist records";
    AuthorizedAccount => "授权账号ID", "Authorized account ID";
    AddMore => "继续添加", "Add another";
    PermsLeft => "您本次还可以添加 {n} 个授权账号", "You can add {n} more accounts in this operation";
    PermsHint => "格式：iam:domain::账号ID，例如 iam:domain::1564ec50ef2a47c791ea5536353ed4b9；添加 * 表示所有用户可访问。本账号默认在白名单中。", "Format: iam:domain::<account id>, e.g. iam:domain::1564ec50ef2a47c791ea5536353ed4b9; * lets every account connect. Your own account is always allowed.";
    PermsLimit => "单次最多添加 50 个授权账号。", "At most 50 accounts per operation.";
    PermsEmpty => "请至少填写一个授权账号 ID。", "Enter at least one account ID.";
    NoPermissions => "白名单为空：只有本账号可以连接。", "The whitelist is empty: only your own account may connect.";
    AddedAt => "添加时间", "Added";
    Remove => "移除", "Remove";
    ServiceDeleteBlocked => "仍有终端节点连接本服务，请先拒绝或删除它们。", "Endpoints still use this service: reject or delete them first.";
    // account
    CredentialsTitle => "我的凭证", "My credentials";
    AccountName => "账号名", "Account name";
    AccountIdHint => "向终端节点服务的所有者提供此账号 ID，让其将 iam:domain::账号ID 添加到服务白名单中。", "Give this account ID to a service's owner so they add iam:domain::<account id> to its whitelist.";
    Projects => "项目列表", "Projects";
    ProjectId => "项目 ID", "Project ID";
    AccessKeys => "访问密钥", "Access keys";
    SecretNotShown => "秘密访问密钥只在创建时显示一次，控制台不会显示。", "Secret keys are shown once when created; the console never shows them.";
    QuotasTitle => "配额", "Quotas";
    QuotasHint => "配额限制了您可以创建的资源数量。如需提高配额，请联系运维人员。", "Quotas limit how many resources you can create. Ask the operator to raise them.";
    ResourceType => "资源类型", "Resource type";
    Used => "已使用", "Used";
    Limit => "配额", "Limit";
    Current => "当前", "current";
    // network (read-only inventory)
    NetworkTitle => "网络资源", "Network resources";
    NetworkHint => "终端节点服务和终端节点所用的网络资源（只读）。通过 API 或 CLI（vpcep lab）管理。", "The network endpoint services and endpoints stand on (read only). Manage it with the API or the CLI (vpcep lab).";
    Cidr => "网段", "CIDR";
    Gateway => "网关", "Gateway";
    LoadBalancers => "负载均衡", "Load balancers";
    Vip => "VIP 地址", "VIP";
    Servers => "云主机", "Cloud hosts";
    Nics => "网卡", "NICs";
    // error sentences shared by several domain errors
    ErrNoPermission => "无权连接该终端节点服务，请联系服务所有者将您的账号加入白名单", "No permission to connect: ask the owner to whitelist your account";
    ErrSystem => "系统错误，请稍后重试", "System error, please retry";
}

impl M {
    /// `t` with several `{key}` placeholders filled.
    pub fn fill_many(self, lang: Lang, pairs: &[(&str, &str)]) -> String {
        pairs.iter().fold(self.t(lang).to_string(), |acc, (k, v)| {
            acc.replace(&format!("{{{k}}}"), v)
        })
    }

    /// `t` with `{n}`/`{x}`-style placeholders filled.
    pub fn fill(self, lang: Lang, key: &str, value: &str) -> String {
        self.t(lang).replace(&format!("{{{key}}}"), value)
    }
}

pub fn service_status(s: ServiceStatus) -> M {
    match s {
        ServiceStatus::Creating => M::StCreating,
        ServiceStatus::Available => M::StAvailable,
        ServiceStatus::Failed => M::StFailed,
        ServiceStatus::Deleting => M::StDeleting,
    }
}

pub fn endpoint_status(s: EndpointStatus) -> M {
    match s {
        EndpointStatus::PendingAcceptance => M::StPending,
        EndpointStatus::Creating => M::StCreating,
        EndpointStatus::Accepted => M::StAccepted,
        EndpointStatus::Rejected => M::StRejected,
        EndpointStatus::Failed => M::StFailed,
        EndpointStatus::Deleting => M::StDeleting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_has_both_languages() {
        for m in M::ALL {
            for l in [Lang::Zh, Lang::En] {
                assert!(!m.t(l).trim().is_empty(), "{m:?} is empty in {l:?}");
            }
        }
        // Chinese strings are Chinese (or deliberately language-neutral).
        let neutral = [M::Id, M::SwitchLang, M::Vpc];
        for m in M::ALL.iter().filter(|m| !neutral.contains(m)) {
            let zh = m.t(Lang::Zh);
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{m:?} has no Chinese text: {zh}"
            );
        }
    }

    #[test]
    fn statuses_use_the_guide_names() {
        assert_eq!(
            endpoint_status(EndpointStatus::Accepted).t(Lang::Zh),
            "已接受"
        );
        assert_eq!(
            endpoint_status(EndpointStatus::PendingAcceptance).t(Lang::Zh),
            "待接受"
        );
        assert_eq!(
            service_status(ServiceStatus::Available).t(Lang::Zh),
            "可连接"
        );
        assert_eq!(M::Total.fill(Lang::En, "n", "3"), "3 in total");
    }
}
