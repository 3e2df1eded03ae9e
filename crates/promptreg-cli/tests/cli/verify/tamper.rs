//! Each edit of the database behind the server's back (then a restart, so the server reads
//! the edited rows) makes `promptreg verify` exit 1 with a line naming the row.

use super::{fails_naming, json_report, seed, Registry};

on_both_backends!(
    a_changed_template_byte_fails,
    a_changed_digest_fails,
    a_changed_deployment_to_version_fails,
    a_moved_pointer_fails,
    a_deleted_history_row_fails,
    a_deleted_version_row_fails,
    a_deleted_newest_leaf_fails,
    an_edited_leaf_fails,
);

/// The line of a version the server refuses to serve because its content does not open.
const REFUSED_T_A_2: &str =
    "versions row (prompt 't/a', version 2): the server refuses to serve it \
     (integrity_error): prompt 't/a' version 2 cannot be read";

async fn a_changed_template_byte_fails(registry: &mut Registry) {
    seed(registry).await;
    // The template is stored encrypted: a changed byte of its ciphertext.
    registry
        .tamper(
            "UPDATE versions SET ciphertext = substr(ciphertext, 1, 4) \
             || CASE WHEN substr(ciphertext, 5, 1) = x'00' THEN x'01' ELSE x'00' END \
             || substr(ciphertext, 6) WHERE name = 't/a' AND version = 2",
            "UPDATE versions SET ciphertext = set_byte(ciphertext, 4, get_byte(ciphertext, 4) # 1) \
             WHERE name = 't/a' AND version = 2",
        )
        .await;
    let out = fails_naming(registry, REFUSED_T_A_2).await;
    // The other versions are still read and checked.
    assert!(
        !out.contains("version 1)") && !out.contains("'t/b'"),
        "only t/a version 2 fails:\n{out}"
    );
    // The same as data.
    let report = json_report(registry.verify(&["--output", "json"]).await);
    assert_eq!(report["ok"], false);
    assert_eq!(report["checked"]["versions"], 3, "{report:#}");
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures.iter().any(|f| f["table"] == "versions"
            && f["row"] == "prompt 't/a', version 2"
            && f["message"]
                .as_str()
                .unwrap()
                .starts_with("the server refuses to serve it (integrity_error)")),
        "{report:#}"
    );
}

async fn a_changed_digest_fails(registry: &mut Registry) {
    seed(registry).await;
    // The digest is bound into the sealing: the content no longer opens.
    let sql = "UPDATE versions SET digest = (SELECT digest FROM versions WHERE name = 't/a' AND version = 1) \
               WHERE name = 't/a' AND version = 2";
    registry.tamper(sql, sql).await;
    let out = fails_naming(registry, REFUSED_T_A_2).await;
    assert!(
        out.lines()
            .any(|l| l.starts_with("pointers row (production, 't/a'): live digest sha256:")),
        "{out}"
    );
}

async fn a_changed_deployment_to_version_fails(registry: &mut Registry) {
    seed(registry).await;
    let sql = "UPDATE deployments SET to_version = 1 WHERE name = 't/a' AND env = 'production' AND seq = 2";
    registry.tamper(sql, sql).await;
    let out = fails_naming(
        registry,
        "deployments row (production, 't/a', seq 2): to_version 1 but the ledger's move (leaf ",
    )
    .await;
    assert!(
        out.contains(
            "deployments row (production, 't/a', seq 2): to_version 1 but the signature says 2"
        ),
        "{out}"
    );
}

async fn a_moved_pointer_fails(registry: &mut Registry) {
    seed(registry).await;
    let sql = "UPDATE pointers SET version = 1 WHERE name = 't/a' AND env = 'production'";
    registry.tamper(sql, sql).await;
    fails_naming(
        registry,
        "pointers row (production, 't/a'): version 1 is live, but the ledger's last move (seq 2",
    )
    .await;
}

async fn a_deleted_history_row_fails(registry: &mut Registry) {
    seed(registry).await;
    let sql = "DELETE FROM deployments WHERE name = 't/a' AND env = 'production' AND seq = 1";
    registry.tamper(sql, sql).await;
    fails_naming(
        registry,
        "deployments row (production, 't/a', seq 1): missing, but ledger leaf ",
    )
    .await;
}

async fn a_deleted_version_row_fails(registry: &mut Registry) {
    seed(registry).await;
    let sql = "DELETE FROM versions WHERE name = 't/a' AND version = 1";
    registry.tamper(sql, sql).await;
    fails_naming(
        registry,
        "versions row (prompt 't/a', version 1): missing, but ledger leaf ",
    )
    .await;
}

async fn a_deleted_newest_leaf_fails(registry: &mut Registry) {
    seed(registry).await;
    let sql = "DELETE FROM event_log WHERE seq = (SELECT MAX(seq) FROM event_log)";
    registry.tamper(sql, sql).await;
    let out = fails_naming(
        registry,
        "deployments row (staging, 't/b', seq 1): not in the ledger: its ledger_index ",
    )
    .await;
    assert!(
        out.lines().any(|l| l.starts_with(
            "pointers row (staging, 't/b'): version 1 is live, but the ledger records no move"
        )),
        "{out}"
    );
}

async fn an_edited_leaf_fails(registry: &mut Registry) {
    seed(registry).await;
    // The first version's leaf now names another actor (the server re-reads and re-signs the
    // edited log on restart: only the rows it disagrees with can tell).
    let sql =
        "UPDATE event_log SET body = replace(body, '\"actor\":', '\"actor\":\"x\",\"was\":') \
               WHERE seq = (SELECT MIN(seq) FROM event_log WHERE kind = 'version_created')";
    registry.tamper(sql, sql).await;
    let out = fails_naming(registry, "event_log row (seq ").await;
    assert!(
        out.lines()
            .any(|l| l
                .contains("actor 'x', but versions row (prompt 't/a', version 1) was created by ")),
        "{out}"
    );
}
