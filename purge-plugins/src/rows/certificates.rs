//! x509 certificates of the EC2 API era (legacy).

use purge_api::register_target;

register_target! { table: "certificates", scope: Rows }
