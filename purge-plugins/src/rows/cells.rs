//! Cells v1 parent/child records (legacy).

use purge_api::register_target;

register_target! { table: "cells", scope: Rows }
