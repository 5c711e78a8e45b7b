//! EC2 S3 image id map (legacy).

use purge_api::register_target;

register_target! { table: "s3_images", scope: Rows }
