"""Network: a VPC with private subnets in two AZs, the VPC endpoints the functions reach AWS through, and one
way to the internet: NAT gateways in public subnets, used only by the functions that call acquirers.

The functions reach S3, Secrets Manager, KMS and SQS through endpoints (no AWS call crosses the NAT). What
crosses it is an acquirer's API: HTTPS (443) from the processor and the reconcile job, through their own
security group (``egress_sg``); the admin and authorizer functions have no rule out to the internet, so the
route alone takes them nowhere. Prod has a NAT gateway per AZ (an AZ's outage leaves the other's payments
their way out); dev and staging one (a single AZ's outage stops their acquirer calls: cheaper, and they
fail over to the simulated acquirer or wait). Cost per environment: README, "Egress"."""

from __future__ import annotations

from cdktn import Fn
from cdktn_aws import ec2, vpc
from constructs import Construct

from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming

#: PostgreSQL's port; the only port the database security group opens: to the functions, or, where the
#: environment has one, to the database's proxy only (payments_infra.constructs.database_proxy).
DB_PORT = 5432
HTTPS = 443
SUBNET_COUNT = 2
ANYWHERE = "0.0.0.0/0"
#: Public subnets are numbered from here in the VPC's /16 (10.x.101.0/24, …), clear of the private ones (1, 2).
PUBLIC_SUBNET_OFFSET = 101


class Network(Construct):
    """VPC, private subnets, route table, security groups and endpoints of one deployment."""

    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig, naming: Naming) -> None:
        super().__init__(scope, id_)
        # Interface endpoints with private DNS need both DNS settings on ("enableDnsSupport and
        # enableDnsHostnames must be true to use private DNS", CreateVpcEndpoint InvalidParameter).
        self.vpc = vpc.AwsVpc(
            self,
            "vpc",
            cidr_block=config.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": naming.resource("vpc")},
        )
        zones = ec2.DataAwsAvailabilityZones(self, "zones", state="available")
        # A DB subnet group must span at least two AZs ("DBSubnetGroupDoesNotCoverEnoughAZs").
        self.private_subnets = [
            vpc.AwsSubnet(
                self,
                f"private-{index}",
                vpc_id=self.vpc.id,
                cidr_block=Fn.cidrsubnet(config.vpc_cidr, 8, index + 1),
                availability_zone=Fn.element(zones.names, index),
                map_public_ip_on_launch=False,
                tags={"Name": naming.resource(f"private-{index}"), "Tier": "private"},
            )
            for index in range(SUBNET_COUNT)
        ]
        # Public subnets hold the NAT gateways and nothing else (no function, no database runs there).
        self.public_subnets = [
            vpc.AwsSubnet(
                self,
                f"public-{index}",
                vpc_id=self.vpc.id,
                cidr_block=Fn.cidrsubnet(config.vpc_cidr, 8, PUBLIC_SUBNET_OFFSET + index),
                availability_zone=Fn.element(zones.names, index),
                map_public_ip_on_launch=False,
                tags={"Name": naming.resource(f"public-{index}"), "Tier": "public"},
            )
            for index in range(config.nat_gateways)
        ]
        self.internet_gateway = vpc.AwsInternetGateway(
            self, "internet-gateway", vpc_id=self.vpc.id, tags={"Name": naming.resource("igw")}
        )
        public_routes = vpc.AwsRouteTable(
            self, "public-routes", vpc_id=self.vpc.id, tags={"Name": naming.resource("public")}
        )
        vpc.AwsRoute(
            self,
            "public-internet",
            route_table_id=public_routes.id,
            destination_cidr_block=ANYWHERE,
            gateway_id=self.internet_gateway.id,
        )
        self.nat_gateways = []
        for index, subnet in enumerate(self.public_subnets):
            vpc.AwsRouteTableAssociation(
                self, f"public-{index}-routes", subnet_id=subnet.id, route_table_id=public_routes.id
            )
            address = ec2.AwsEip(
                self, f"nat-{index}-address", domain="vpc", tags={"Name": naming.resource(f"nat-{index}")}
            )
            self.nat_gateways.append(
                vpc.AwsNatGateway(
                    self,
                    f"nat-{index}",
                    allocation_id=address.allocation_id,
                    subnet_id=subnet.id,
                    connectivity_type="public",
                    tags={"Name": naming.resource(f"nat-{index}")},
                    # A NAT gateway forwards nothing until the VPC has its internet gateway.
                    depends_on=[self.internet_gateway],
                )
            )
        # One private route table per NAT gateway: a subnet goes out through the NAT of its own AZ where there is
        # one, else through the first. The first table keeps its construct id (a deployed stack keeps it).
        self.route_tables = [
            vpc.AwsRouteTable(
                self,
                "private-routes" if index == 0 else f"private-routes-{index}",
                vpc_id=self.vpc.id,
                tags={"Name": naming.resource("private" if index == 0 else f"private-{index}")},
            )
            for index in range(len(self.nat_gateways))
        ]
        for index, table in enumerate(self.route_tables):
            vpc.AwsRoute(
                self,
                "private-internet" if index == 0 else f"private-internet-{index}",
                route_table_id=table.id,
                destination_cidr_block=ANYWHERE,
                nat_gateway_id=self.nat_gateways[index].id,
            )
        for index, subnet in enumerate(self.private_subnets):
            vpc.AwsRouteTableAssociation(
                self,
                f"private-{index}-routes",
                subnet_id=subnet.id,
                route_table_id=self.route_tables[min(index, len(self.route_tables) - 1)].id,
            )

        self.function_sg = security_group(
            self,
            "function-sg",
            naming=naming,
            vpc_id=self.vpc.id,
            purpose="processor",
            description="Payment processor Lambda: egress to the database and the VPC endpoints only",
        )
        # The description stays as it was where a proxy stands between (the processor reaches the database
        # through it): a security group's description cannot be changed in place, and replacing the group
        # of a running instance fails ("DependencyViolation: resource sg-… has a dependent object").
        self.database_sg = security_group(
            self,
            "database-sg",
            naming=naming,
            vpc_id=self.vpc.id,
            purpose="db",
            description="Payment database: PostgreSQL from the payment processor only",
        )
        self.endpoint_sg = security_group(
            self,
            "endpoint-sg",
            naming=naming,
            vpc_id=self.vpc.id,
            purpose="endpoints",
            description="VPC interface endpoints: HTTPS from the payment processor only",
        )
        # The functions that call acquirers (the processor and the reconcile job) hold this group besides
        # function_sg: HTTPS to any address, and nothing else. An acquirer's API is public HTTPS; a port other
        # than 443 open to the internet is preflight PF903's error.
        self.egress_sg = security_group(
            self,
            "egress-sg",
            naming=naming,
            vpc_id=self.vpc.id,
            purpose="egress",
            description="Payment functions calling acquirers: HTTPS to the internet through the NAT gateway",
        )
        self.s3_endpoint = vpc.AwsEndpoint(
            self,
            "s3-endpoint",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{config.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in self.route_tables],
            tags={"Name": naming.resource("s3")},
        )
        self.secrets_endpoint = self._interface_endpoint("secretsmanager", config=config, naming=naming)
        # The processor seals webhook signing secrets with KMS (payment_processor.webhooks.secrets).
        self.kms_endpoint = self._interface_endpoint("kms", config=config, naming=naming)
        # The reconcile job queues webhook attempts and reads their results (payment_processor.webhooks.dispatcher).
        self.sqs_endpoint = self._interface_endpoint("sqs", config=config, naming=naming)

        # Separate rule resources (not inline blocks) so each rule is one reviewable, diffable resource.
        if config.proxy is None:
            # Direct connections. With a proxy the database admits the proxy alone, and the functions reach
            # the proxy: DatabaseProxy makes those rules.
            tcp_path(
                self,
                source=self.function_sg.id,
                target=self.database_sg.id,
                port=DB_PORT,
                ingress=("database-from-function", "PostgreSQL from the payment processor"),
                egress=("function-to-database", "PostgreSQL to the payment database"),
            )
        tcp_path(
            self,
            source=self.function_sg.id,
            target=self.endpoint_sg.id,
            port=HTTPS,
            ingress=("endpoints-from-function", "HTTPS to the interface endpoints from the payment processor"),
            egress=("function-to-endpoints", "HTTPS to the Secrets Manager, KMS and SQS endpoints"),
        )
        # A gateway endpoint has no security group; traffic to it is addressed by S3's prefix list.
        vpc.AwsSecurityGroupRule(
            self,
            "function-to-s3",
            type="egress",
            description="HTTPS to S3 through the gateway endpoint",
            security_group_id=self.function_sg.id,
            prefix_list_ids=[self.s3_endpoint.prefix_list_id],
            protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
        )

        vpc.AwsSecurityGroupRule(
            self,
            "egress-to-acquirers",
            type="egress",
            description="HTTPS to acquirer APIs through the NAT gateway",
            security_group_id=self.egress_sg.id,
            cidr_blocks=[ANYWHERE],
            protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
        )

    @property
    def private_subnet_ids(self) -> list[str]:
        """IDs of the private subnets (one per AZ)."""
        return [subnet.id for subnet in self.private_subnets]

    def _interface_endpoint(self, service: str, *, config: EnvironmentConfig, naming: Naming) -> vpc.AwsEndpoint:
        """An interface endpoint for ``service`` in the private subnets, behind the endpoints' security group,
        with private DNS (the SDK's default host name resolves to it)."""
        return vpc.AwsEndpoint(
            self,
            f"{service}-endpoint",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{config.region}.{service}",
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=[subnet.id for subnet in self.private_subnets],
            security_group_ids=[self.endpoint_sg.id],
            tags={"Name": naming.resource(service)},
        )


def security_group(
    scope: Construct, id_: str, *, naming: Naming, vpc_id: str, purpose: str, description: str
) -> vpc.AwsSecurityGroup:
    """A security group named and tagged for its purpose, with no rule of its own: each rule is a resource of its
    own (tcp_path, and the rules next to where a group is made). Its description cannot change in place (AWS
    replaces the group, which fails while an instance or function holds it)."""
    return vpc.AwsSecurityGroup(
        scope,
        id_,
        name=naming.security_group(purpose),
        description=description,
        vpc_id=vpc_id,
        tags={"Name": naming.security_group(purpose)},
    )


def tcp_path(
    scope: Construct,
    *,
    source: str,
    target: str,
    port: int,
    ingress: tuple[str, str],
    egress: tuple[str, str],
) -> None:
    """Let security group ``source`` reach ``target`` on TCP ``port``: the ingress rule on the target and the
    egress rule on the source, each a resource of its own. ``ingress`` and ``egress`` are each rule's
    construct id and description."""
    rules = ((ingress, "ingress", target, source), (egress, "egress", source, target))
    for (id_, description), kind, group, other in rules:
        vpc.AwsSecurityGroupRule(
            scope,
            id_,
            type=kind,
            description=description,
            security_group_id=group,
            source_security_group_id=other,
            protocol="tcp",
            from_port=port,
            to_port=port,
        )
