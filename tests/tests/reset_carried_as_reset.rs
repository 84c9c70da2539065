//! A reset is carried as a reset: when one end resets its TCP connection,
//! the other end sees a reset, never a clean EOF.

use tcpws_tests::sim::scenario::{expect, millis, secs, settle, wait_up, world};
use tcpws_tests::sim::{AppPlan, BackendMode, Node, SimConfig, Status};

const NAME: &str = "reset_carried_as_reset";

#[test]
fn resets_cross_in_both_directions_and_both_tunnel_kinds() {
    let mut w = world(NAME, SimConfig::default());
    wait_up(&mut w);
    let active = Node::client(w.active_of(Node::Server).expect("up"));
    for node in [Node::Server, active] {
        for app_resets in [true, false] {
            let tunnel = w.config().listens(node)[0].clone();
            let plan = AppPlan::manual().with_backend(BackendMode::Stream(10_000_000));
            let app = w.app_connect(node, &tunnel, plan);
            w.app_write(app, 50_000);
            w.run_for(millis(200));
            let backend = w.peer(app).expect("reached a backend").id;
            let (resetter, other) = if app_resets {
                (app, backend)
            } else {
                (backend, app)
            };
            w.app_reset(resetter);
            w.wait_for("the reset to cross", secs(2), |w| {
                w.app(other).status.is_final()
            });
            expect(
                &w,
                w.app(other).status == Status::Reset,
                format_args!(
                    "{other} saw {:?} after {resetter} reset",
                    w.app(other).status
                ),
            );
        }
    }
    settle(&mut w, secs(10));
}
