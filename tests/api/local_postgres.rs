//! The private cluster the binary starts when no server answers on 5432.

use diesel_async::{AsyncConnection, AsyncPgConnection};

use sales_tracking::dev::local_postgres::{PrivateCluster, create_database_if_missing};

#[tokio::test]
async fn a_private_cluster_starts_serves_and_stops() {
    let dir = tempfile::Builder::new()
        .prefix("st-cluster-")
        .tempdir_in("/tmp")
        .unwrap();
    let data_dir = dir.path().join("postgres");
    let cluster = tokio::task::spawn_blocking(move || PrivateCluster::start(&data_dir))
        .await
        .unwrap()
        .unwrap();
    let server = cluster.server_url();
    assert_ne!(cluster.port, 5432);
    create_database_if_missing(&server, "sales_tracking").await.unwrap();
    create_database_if_missing(&server, "sales_tracking").await.unwrap();
    let url = format!("{server}/sales_tracking");
    sales_tracking::db::run_migrations(&url).await.unwrap();
    AsyncPgConnection::establish(&url)
        .await
        .expect("the private cluster answers");

    tokio::task::spawn_blocking(move || drop(cluster)).await.unwrap();
    assert!(
        AsyncPgConnection::establish(&url).await.is_err(),
        "the cluster is stopped when dropped"
    );
}
