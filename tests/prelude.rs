//! The prelude combines with other crates' imports: `use rstreams::prelude::*;` next to
//! `use futures::...;` and `use tokio::...;` compiles (a module of the facade named like a crate
//! made such imports ambiguous), and so does the facade's own glob next to `use futures::...`.
//! This file is the compile test: each module below would fail to build on a clash.

mod prelude_next_to_futures_and_tokio {
    use futures::executor::block_on;
    use futures::stream;
    use futures::{StreamExt, TryStreamExt};
    use rstreams::prelude::*;
    use tokio::sync::mpsc;

    #[test]
    fn the_prelude_compiles_next_to_futures_and_tokio_imports_and_brings_every_trait() {
        // PublisherExt (map), Publisher (subscribe), sink, source.
        let doubled = source::range(0, 3).map(|x| x * 2);
        assert_eq!(sink::collect(&doubled).unwrap(), vec![0, 2, 4]);
        // PublisherFuturesExt (into_stream) with futures' StreamExt / TryStreamExt.
        let v: Vec<u64> = block_on(doubled.into_stream(2).try_collect()).unwrap();
        assert_eq!(v, vec![0, 2, 4]);
        let lens: Vec<usize> = block_on(stream::iter(vec!["a", "bb"]).map(str::len).collect());
        assert_eq!(lens, vec![1, 2]);
        // Error, Subscriber and Subscription name the protocol in user code.
        fn fails() -> Result<(), Error> {
            Err(Error::msg("x"))
        }
        assert!(fails().is_err());
        struct Nop;
        impl Subscriber<u64> for Nop {
            fn on_subscribe(&mut self, s: std::sync::Arc<dyn Subscription>) {
                s.request(1);
            }
            fn on_next(&mut self, _: u64) {}
            fn on_error(&mut self, _: Error) {}
            fn on_complete(&mut self) {}
        }
        source::range(0, 1).subscribe(Nop);
        let (tx, _rx) = mpsc::unbounded_channel::<u64>();
        tx.send(1).unwrap();
    }
}

mod prelude_next_to_the_futures_prelude {
    use futures::prelude::*;
    use rstreams::prelude::*;
    // Both preludes hold a module `sink`: an explicit import settles which one is meant.
    use rstreams::sink;

    #[test]
    fn the_prelude_compiles_next_to_the_futures_prelude_with_sink_named_explicitly() {
        let v: Vec<u64> = futures::executor::block_on(
            source::range(0, 3)
                .into_stream(4)
                .map(|r| r.unwrap())
                .collect(),
        );
        assert_eq!(v, sink::collect(&source::range(0, 3)).unwrap());
    }
}

mod facade_glob_next_to_futures {
    use futures::executor::block_on;
    use futures::TryStreamExt;
    #[allow(unused_imports)] // the point is that this glob does not make `futures` ambiguous
    use rstreams::*;

    #[test]
    fn the_facade_glob_no_longer_shadows_the_futures_crate() {
        use rstreams::bridge::PublisherFuturesExt;
        let v: Vec<u64> = block_on(source::range(0, 2).into_stream(1).try_collect()).unwrap();
        assert_eq!(v, vec![0, 1]);
    }
}
