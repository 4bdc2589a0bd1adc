//! The Huawei VPC v1 subset (`docs/vpc-v1-wire.md`): VPCs, subnets, ports, security groups and
//! their rules. Paths are `/v1/{project_id}/vpcs|subnets|ports|security-groups|security-group-rules`.

use vpcep_huawei::vpc::{
    CreatePortBody, CreatePortRequest, CreateSecurityGroupBody, CreateSecurityGroupRequest,
    CreateSecurityGroupRuleBody, CreateSecurityGroupRuleRequest, CreateSubnetBody,
    CreateSubnetRequest, CreateVpcBody, CreateVpcRequest, Port, PortEnvelope, PortsEnvelope,
    SecurityGroup, SecurityGroupEnvelope, SecurityGroupRule, SecurityGroupRuleEnvelope,
    SecurityGroupRulesEnvelope, SecurityGroupsEnvelope, Subnet, SubnetEnvelope, SubnetsEnvelope,
    UpdateVpcBody, UpdateVpcRequest, Vpc, VpcEnvelope, VpcsEnvelope,
};

use crate::params::push_opt;
use crate::{Client, ClientError};

impl Client {
    // ---- VPCs ---------------------------------------------------------------------------------

    pub async fn create_vpc(&self, body: CreateVpcBody) -> Result<Vpc, ClientError> {
        let r: VpcEnvelope = self
            .post(&self.project_path("/vpcs"), &CreateVpcRequest { vpc: body })
            .await?;
        Ok(r.vpc)
    }

    pub async fn list_vpcs(&self) -> Result<Vec<Vpc>, ClientError> {
        let r: VpcsEnvelope = self.get(&self.project_path("/vpcs"), &[]).await?;
        Ok(r.vpcs)
    }

    pub async fn get_vpc(&self, id: &str) -> Result<Vpc, ClientError> {
        let r: VpcEnvelope = self
            .get(&self.project_path(&format!("/vpcs/{id}")), &[])
            .await?;
        Ok(r.vpc)
    }

    pub async fn update_vpc(&self, id: &str, body: UpdateVpcBody) -> Result<Vpc, ClientError> {
        let r: VpcEnvelope = self
            .put(
                &self.project_path(&format!("/vpcs/{id}")),
                &UpdateVpcRequest { vpc: body },
            )
            .await?;
        Ok(r.vpc)
    }

    pub async fn delete_vpc(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&self.project_path(&format!("/vpcs/{id}")))
            .await
            .map(|_| ())
    }

    // ---- subnets ------------------------------------------------------------------------------

    pub async fn create_subnet(&self, body: CreateSubnetBody) -> Result<Subnet, ClientError> {
        let r: SubnetEnvelope = self
            .post(
                &self.project_path("/subnets"),
                &CreateSubnetRequest { subnet: body },
            )
            .await?;
        Ok(r.subnet)
    }

    pub async fn list_subnets(&self, vpc_id: Option<&str>) -> Result<Vec<Subnet>, ClientError> {
        let mut q = Vec::new();
        push_opt(&mut q, "vpc_id", vpc_id);
        let r: SubnetsEnvelope = self.get(&self.project_path("/subnets"), &q).await?;
        Ok(r.subnets)
    }

    pub async fn get_subnet(&self, id: &str) -> Result<Subnet, ClientError> {
        let r: SubnetEnvelope = self
            .get(&self.project_path(&format!("/subnets/{id}")), &[])
            .await?;
        Ok(r.subnet)
    }

    pub async fn delete_subnet(&self, vpc_id: &str, id: &str) -> Result<(), ClientError> {
        self.delete(&self.project_path(&format!("/vpcs/{vpc_id}/subnets/{id}")))
            .await
            .map(|_| ())
    }

    // ---- ports --------------------------------------------------------------------------------

    pub async fn create_port(&self, body: CreatePortBody) -> Result<Port, ClientError> {
        let r: PortEnvelope = self
            .post(
                &self.project_path("/ports"),
                &CreatePortRequest { port: body },
            )
            .await?;
        Ok(r.port)
    }

    /// Ports, optionally only those of one device (a lab server or load balancer id).
    pub async fn list_ports(&self, device_id: Option<&str>) -> Result<Vec<Port>, ClientError> {
        let mut q = Vec::new();
        push_opt(&mut q, "device_id", device_id);
        let r: PortsEnvelope = self.get(&self.project_path("/ports"), &q).await?;
        Ok(r.ports)
    }

    pub async fn get_port(&self, id: &str) -> Result<Port, ClientError> {
        let r: PortEnvelope = self
            .get(&self.project_path(&format!("/ports/{id}")), &[])
            .await?;
        Ok(r.port)
    }

    pub async fn delete_port(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&self.project_path(&format!("/ports/{id}")))
            .await
            .map(|_| ())
    }

    // ---- security groups ----------------------------------------------------------------------

    pub async fn create_security_group(
        &self,
        body: CreateSecurityGroupBody,
    ) -> Result<SecurityGroup, ClientError> {
        let r: SecurityGroupEnvelope = self
            .post(
                &self.project_path("/security-groups"),
                &CreateSecurityGroupRequest {
                    security_group: body,
                },
            )
            .await?;
        Ok(r.security_group)
    }

    pub async fn list_security_groups(
        &self,
        vpc_id: Option<&str>,
    ) -> Result<Vec<SecurityGroup>, ClientError> {
        let mut q = Vec::new();
        push_opt(&mut q, "vpc_id", vpc_id);
        let r: SecurityGroupsEnvelope =
            self.get(&self.project_path("/security-groups"), &q).await?;
        Ok(r.security_groups)
    }

    pub async fn get_security_group(&self, id: &str) -> Result<SecurityGroup, ClientError> {
        let r: SecurityGroupEnvelope = self
            .get(&self.project_path(&format!("/security-groups/{id}")), &[])
            .await?;
        Ok(r.security_group)
    }

    pub async fn delete_security_group(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&self.project_path(&format!("/security-groups/{id}")))
            .await
            .map(|_| ())
    }

    pub async fn create_security_group_rule(
        &self,
        body: CreateSecurityGroupRuleBody,
    ) -> Result<SecurityGroupRule, ClientError> {
        let r: SecurityGroupRuleEnvelope = self
            .post(
                &self.project_path("/security-group-rules"),
                &CreateSecurityGroupRuleRequest {
                    security_group_rule: body,
                },
            )
            .await?;
        Ok(r.security_group_rule)
    }

    pub async fn list_security_group_rules(
        &self,
        security_group_id: Option<&str>,
    ) -> Result<Vec<SecurityGroupRule>, ClientError> {
        let mut q = Vec::new();
        push_opt(&mut q, "security_group_id", security_group_id);
        let r: SecurityGroupRulesEnvelope = self
            .get(&self.project_path("/security-group-rules"), &q)
            .await?;
        Ok(r.security_group_rules)
    }

    pub async fn get_security_group_rule(
        &self,
        id: &str,
    ) -> Result<SecurityGroupRule, ClientError> {
        let r: SecurityGroupRuleEnvelope = self
            .get(
                &self.project_path(&format!("/security-group-rules/{id}")),
                &[],
            )
            .await?;
        Ok(r.security_group_rule)
    }

    pub async fn delete_security_group_rule(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&self.project_path(&format!("/security-group-rules/{id}")))
            .await
            .map(|_| ())
    }
}
