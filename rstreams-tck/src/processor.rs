//! [`ProcessorVerification`]: checks an identity processor on both sides (§4.1), and with two
//! subscribers at once.
//!
//! [`ProcessorVerification`]: crate::ProcessorVerification

use std::fmt;
use std::sync::Arc;

use rstreams_core::{Error, Publisher, Subscriber};

use crate::check::{skip, CheckDef, Checked, Ctx, Halt, Settings};
use crate::operator::on_both_paths;
use crate::recorder::Recorder;
use crate::report::Report;
use crate::upstream::Upstream;
use crate::verification::{run_suite, sealed::Sealed, subject, Verification};
use crate::{OperatorVerification, PublisherVerification, SubscriberVerification, TestSubscriber};

/// How a processor with several subscribers shares its upstream among them: its documented
/// policy, which the multi-subscriber checks hold it to.
///
/// ```
/// use rstreams_tck::Multicast;
///
/// assert_eq!(Multicast::default(), Multicast::SlowestHoldsBack);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Multicast {
    /// Every element reaches every subscriber, and the slowest subscriber's demand holds back
    /// the others: none receives an element before every subscriber has asked for it.
    #[default]
    SlowestHoldsBack,
    /// Every element reaches every subscriber; the faster ones may run ahead of the slowest by
    /// up to this many elements, which the processor buffers for it.
    Buffered(u64),
    /// A subscriber without demand misses the elements that arrive meanwhile (a hot
    /// processor, or rstreams-ops' `SlowSubscriber::DropOldest`); the others are not held
    /// back. So in the two-subscriber checks the one that asks second may miss the first
    /// element, which the first one's request brought.
    DropsForSlow,
}

/// The checks of a [`ProcessorVerification`](crate::ProcessorVerification) and the processors
/// they run against.
///
/// ```
/// use rstreams_tck::{ProcessorSuite, Verification};
///
/// # #[derive(Clone)] struct P;
/// # impl rstreams::Subscriber<u64> for P {
/// #     fn on_subscribe(&mut self, _: std::sync::Arc<dyn rstreams::Subscription>) {}
/// #     fn on_next(&mut self, _: u64) {}
/// #     fn on_error(&mut self, _: rstreams::Error) {}
/// #     fn on_complete(&mut self) {}
/// # }
/// # impl rstreams::Publisher for P {
/// #     type Item = u64;
/// #     fn subscribe<S: rstreams::Subscriber<u64> + 'static>(&self, _: S) {}
/// # }
/// let names = Verification::<ProcessorSuite<P>>::check_names();
/// assert!(names.contains(&"proc_rule_4_1_an_element_reaches_both_subscribers"));
/// assert!(names.contains(&"rule_1_1_emits_no_more_than_requested"));
/// ```
pub struct ProcessorSuite<P> {
    make: Arc<dyn Fn() -> P + Send + Sync>,
    prefetch: Option<u64>,
    multicast: Multicast,
    /// For a connectable processor: connects it, returning what ends the connection.
    connect: Option<Connect<P>>,
}

/// Connects a connectable processor; the returned closure ends the connection.
type Connect<P> = Arc<dyn Fn(&P) -> Box<dyn FnOnce() + Send> + Send + Sync>;

impl<P> Verification<ProcessorSuite<P>>
where
    P: Subscriber<u64> + Publisher<Item = u64> + Clone + 'static,
{
    /// Verifies an identity processor: a cloneable handle that is both a `Subscriber<u64>`
    /// and a `Publisher<Item = u64>` and passes elements through unchanged (§4.1).
    ///
    /// Four groups of checks run on it, and are reported together:
    /// - as a **publisher**, fed by an [`Upstream`] of `elements` ([`PublisherVerification`]);
    /// - as a **subscriber**, with an unbounded downstream attached so that it has a reason to
    ///   request ([`SubscriberVerification`]);
    /// - as an **operator** over its upstream ([`OperatorVerification`]): errors and completion
    ///   pass through at once (§4.2), cancel reaches upstream, demand stays bounded;
    /// - with **two subscribers** at once (ported from the JVM kit's identity-processor
    ///   verification): an element reaches both, an upstream error reaches both, and the
    ///   slower subscriber holds back the faster one by demand, unless the processor's
    ///   [`multicast`](Self::multicast) policy says otherwise. A processor that rejects a
    ///   second subscriber (unicast, allowed by §1.11) has these skipped.
    ///
    /// `ProcessorVerification::new(|| MyProcessor::new()).prefetch_bound(16).run()`; the kit's
    /// own tests (`tests/compliant.rs`, `tests/must_fail.rs`) hold a correct identity
    /// processor, one that swallows errors, and multicast ones.
    ///
    /// ```
    /// # #[derive(Clone)] struct P;
    /// # impl rstreams::Subscriber<u64> for P {
    /// #     fn on_subscribe(&mut self, _: std::sync::Arc<dyn rstreams::Subscription>) {}
    /// #     fn on_next(&mut self, _: u64) {}
    /// #     fn on_error(&mut self, _: rstreams::Error) {}
    /// #     fn on_complete(&mut self) {}
    /// # }
    /// # impl rstreams::Publisher for P {
    /// #     type Item = u64;
    /// #     fn subscribe<S: rstreams::Subscriber<u64> + 'static>(&self, _: S) {}
    /// # }
    /// use rstreams_tck::{Multicast, ProcessorVerification};
    ///
    /// let verification = ProcessorVerification::new(|| P)
    ///     .prefetch_bound(16)
    ///     .multicast(Multicast::Buffered(16));
    /// assert!(format!("{verification:?}").contains("Buffered(16)"));
    /// ```
    pub fn new(make: impl Fn() -> P + Send + Sync + 'static) -> Self {
        Verification::with(ProcessorSuite {
            make: Arc::new(make),
            prefetch: None,
            multicast: Multicast::default(),
            connect: None,
        })
    }

    /// Declares a **connectable** processor (a `publish()` or `replay(n)` multicast): it
    /// subscribes its own upstream side at `connect`, which returns what ends the connection,
    /// and it keeps the connection when its subscribers leave. The kit connects each
    /// processor once it is subscribed to the kit's upstream (in the operator checks, once
    /// its probe subscribed too), and where a check expects a cancel to reach upstream
    /// (§3.12) it ends the connection after the cancel (see
    /// [`OperatorVerification::connectable`]). What `connect` returns is otherwise dropped
    /// without being called: the connection runs on.
    ///
    /// ```
    /// # #[derive(Clone)] struct P;
    /// # impl rstreams::Subscriber<u64> for P {
    /// #     fn on_subscribe(&mut self, _: std::sync::Arc<dyn rstreams::Subscription>) {}
    /// #     fn on_next(&mut self, _: u64) {}
    /// #     fn on_error(&mut self, _: rstreams::Error) {}
    /// #     fn on_complete(&mut self) {}
    /// # }
    /// # impl rstreams::Publisher for P {
    /// #     type Item = u64;
    /// #     fn subscribe<S: rstreams::Subscriber<u64> + 'static>(&self, _: S) {}
    /// # }
    /// # impl P { fn connect(&self) -> impl FnOnce() + Send + 'static { || {} } }
    /// use rstreams_tck::ProcessorVerification;
    ///
    /// let verification = ProcessorVerification::new(|| P).connectable(|p: &P| p.connect());
    /// assert!(format!("{verification:?}").contains("connectable: true"));
    /// ```
    pub fn connectable<C, D>(mut self, connect: C) -> Self
    where
        C: Fn(&P) -> D + Send + Sync + 'static,
        D: FnOnce() + Send + 'static,
    {
        self.suite_mut().connect = Some(Arc::new(move |p: &P| {
            Box::new(connect(p)) as Box<dyn FnOnce() + Send>
        }));
        self
    }

    /// How far ahead of downstream demand the processor may request from upstream (see
    /// [`OperatorVerification::prefetch_bound`]).
    ///
    /// ```
    /// # #[derive(Clone)] struct P;
    /// # impl rstreams::Subscriber<u64> for P {
    /// #     fn on_subscribe(&mut self, _: std::sync::Arc<dyn rstreams::Subscription>) {}
    /// #     fn on_next(&mut self, _: u64) {}
    /// #     fn on_error(&mut self, _: rstreams::Error) {}
    /// #     fn on_complete(&mut self) {}
    /// # }
    /// # impl rstreams::Publisher for P {
    /// #     type Item = u64;
    /// #     fn subscribe<S: rstreams::Subscriber<u64> + 'static>(&self, _: S) {}
    /// # }
    /// let verification = rstreams_tck::ProcessorVerification::new(|| P).prefetch_bound(0);
    /// assert!(format!("{verification:?}").contains("prefetch_bound: Some(0)"));
    /// ```
    pub fn prefetch_bound(mut self, k: u64) -> Self {
        self.suite_mut().prefetch = Some(k);
        self
    }

    /// The processor's policy for several subscribers (default
    /// [`Multicast::SlowestHoldsBack`]).
    ///
    /// ```
    /// # #[derive(Clone)] struct P;
    /// # impl rstreams::Subscriber<u64> for P {
    /// #     fn on_subscribe(&mut self, _: std::sync::Arc<dyn rstreams::Subscription>) {}
    /// #     fn on_next(&mut self, _: u64) {}
    /// #     fn on_error(&mut self, _: rstreams::Error) {}
    /// #     fn on_complete(&mut self) {}
    /// # }
    /// # impl rstreams::Publisher for P {
    /// #     type Item = u64;
    /// #     fn subscribe<S: rstreams::Subscriber<u64> + 'static>(&self, _: S) {}
    /// # }
    /// use rstreams_tck::{Multicast, ProcessorVerification};
    ///
    /// let verification = ProcessorVerification::new(|| P).multicast(Multicast::DropsForSlow);
    /// assert!(format!("{verification:?}").contains("DropsForSlow"));
    /// ```
    pub fn multicast(mut self, policy: Multicast) -> Self {
        self.suite_mut().multicast = policy;
        self
    }
}

impl<P> Sealed for ProcessorSuite<P>
where
    P: Subscriber<u64> + Publisher<Item = u64> + Clone + 'static,
{
    const SUBJECT: &'static str = "processor";

    fn defs() -> Vec<CheckDef<Self>> {
        type D<P> = CheckDef<ProcessorSuite<P>>;
        vec![
            D::new(
                "proc_rule_4_1_an_element_reaches_both_subscribers",
                "4.1",
                reaches_both,
            )
            .look_at("a processor with two subscribers must deliver each element to both (or reject the second subscriber with on_error, if it is unicast)"),
            D::new(
                "proc_rule_1_1_the_slower_subscriber_holds_back_the_faster",
                "1.1",
                slowest_holds_back,
            )
            .look_at("the processor gave a subscriber elements its policy does not allow: ask upstream for no more than the slowest subscriber's demand (plus a declared buffer), or declare the policy it has with multicast(..)"),
            D::new(
                "proc_rule_4_2_an_upstream_error_reaches_both_subscribers",
                "4.2",
                error_reaches_both,
            ),
        ]
    }

    fn names() -> Vec<&'static str> {
        let mut names = PublisherVerification::<u64>::check_names();
        names.extend(SubscriberVerification::<P>::check_names());
        names.extend(OperatorVerification::<u64>::check_names());
        names.extend(Self::defs().iter().map(|d| d.name));
        names
    }

    fn report(suite: &Arc<Self>, settings: &Settings, only: Option<&str>) -> Report {
        let inner = |v: Settings| Settings { name: None, ..v };
        let make = Arc::clone(&suite.make);
        let connect = suite.connect.clone();
        let mut publisher = PublisherVerification::new(move |n| {
            let p = make();
            Upstream::emitting(n).subscribe(p.clone());
            if let Some(connect) = &connect {
                drop(connect(&p)); // the connection runs on
            }
            p
        });
        publisher.settings = inner(settings.clone());
        let make = Arc::clone(&suite.make);
        let connect = suite.connect.clone();
        let mut subscriber = SubscriberVerification::new(move || {
            let p = make();
            p.subscribe(TestSubscriber::<u64>::new(u64::MAX));
            if let Some(connect) = &connect {
                drop(connect(&p)); // the connection runs on
            }
            p
        });
        subscriber.settings = inner(settings.clone());
        let make = Arc::clone(&suite.make);
        let as_operator = move |up: Upstream| {
            let p = make();
            up.subscribe(p.clone());
            p
        };
        let mut operator = match suite.connect.clone() {
            Some(connect) => {
                OperatorVerification::connectable(as_operator, move |p: &P| connect(p))
            }
            None => OperatorVerification::new(as_operator),
        };
        operator.settings = inner(settings.clone());
        if let Some(k) = suite.prefetch {
            operator = operator.prefetch_bound(k);
        }
        let has = |names: &[&str]| only.is_none_or(|o| names.contains(&o));
        let run = |names: &[&str], all: &dyn Fn() -> Report, one: &dyn Fn(&str) -> Report| {
            has(names).then(|| only.map_or_else(all, one))
        };
        let own: Vec<&str> = Self::defs().iter().map(|d| d.name).collect();
        let parts: Vec<Report> = [
            run(
                &PublisherVerification::<u64>::check_names(),
                &|| publisher.run(),
                &|o| publisher.run_check(o),
            ),
            run(
                &SubscriberVerification::<P>::check_names(),
                &|| subscriber.run(),
                &|o| subscriber.run_check(o),
            ),
            run(
                &OperatorVerification::<u64>::check_names(),
                &|| operator.run(),
                &|o| operator.run_check(o),
            ),
            run(&own, &|| run_suite(suite, settings, None), &|o| {
                run_suite(suite, settings, Some(o))
            }),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert!(
            !parts.is_empty(),
            "no check named {:?}",
            only.unwrap_or_default()
        );
        let mut checks = Vec::new();
        let mut not_checked: Vec<&'static str> = Vec::new();
        for part in parts {
            checks.extend(part.checks);
            for id in part.not_checked {
                if !not_checked.contains(&id) {
                    not_checked.push(id);
                }
            }
        }
        // All sides together cover §4.1.
        not_checked.retain(|id| *id != "4.1");
        Report {
            subject: subject("processor", settings),
            checks,
            not_checked,
        }
    }

    fn describe(&self, f: &mut fmt::DebugStruct<'_, '_>) {
        f.field("prefetch_bound", &self.prefetch)
            .field("multicast", &self.multicast)
            .field("connectable", &self.connect.is_some());
    }
}

// ===== two subscribers =====

/// A processor with two probe subscribers (requesting nothing yet), then fed by `up`. Skips
/// when the processor rejects the second subscriber (unicast).
fn two_subscribers<P>(
    suite: &ProcessorSuite<P>,
    ctx: &Arc<Ctx>,
    up: Upstream,
) -> Result<[Recorder<u64>; 2], Halt>
where
    P: Subscriber<u64> + Publisher<Item = u64> + Clone + 'static,
{
    let p = ctx.call("the processor factory", "4.1", || (suite.make)());
    let recs = [0, 1].map(|_| Recorder::new(0, Some(Arc::clone(ctx))));
    for (i, rec) in recs.iter().enumerate() {
        let (sub, _) = rec.subscriber();
        ctx.step(crate::schedule::Step::Subscribe);
        ctx.call(format!("subscribe (subscriber {})", i + 1), "1.9", || {
            p.subscribe(sub)
        });
    }
    // A unicast processor rejects the second subscriber before it has an upstream.
    let second = &recs[1];
    second.wait_until(ctx.quiet(), |s| s.error.is_some());
    let rejected = second.lock().error.clone();
    if let Some(e) = rejected {
        return skip(format!(
            "the processor is unicast: it rejected a second subscriber ({e}); §1.11 allows that"
        ));
    }
    let up = up.signalling(ctx.path());
    ctx.call("subscribe the processor to its upstream", "1.9", || {
        up.subscribe(p.clone())
    });
    if let Some(connect) = &suite.connect {
        ctx.step(crate::schedule::Step::Connect);
        drop(ctx.call("connect", "1.9", || connect(&p))); // the connection runs on
    }
    Ok(recs)
}

fn reaches_both<P>(suite: &ProcessorSuite<P>, ctx: &Arc<Ctx>) -> Checked
where
    P: Subscriber<u64> + Publisher<Item = u64> + Clone + 'static,
{
    on_both_paths(ctx, || {
        let recs = two_subscribers(suite, ctx, Upstream::never_completing(10))?;
        for rec in &recs {
            rec.request(1);
        }
        for (i, rec) in recs.iter().enumerate() {
            rec.expect_count(1).map_err(|mut f| {
                f.message = format!(
                    "subscriber {} (of 2, each asking for 1): {}",
                    i + 1,
                    f.message
                );
                f
            })?;
            let values = rec.lock().values.clone();
            // Under DropsForSlow the second subscriber had no demand yet when the first
            // element arrived (the first one's request brought it): it may have missed it,
            // and receives a later one.
            let hot = suite.multicast == Multicast::DropsForSlow && i > 0;
            let ok = if hot {
                values.len() == 1 && values[0] < 10
            } else {
                values == [0]
            };
            if !ok {
                return Err(rec
                    .fail(format!(
                        "subscriber {} received {values:?}, expected {}",
                        i + 1,
                        if hot {
                            "one of the elements (Multicast::DropsForSlow: a later one if it missed the first)"
                        } else {
                            "the first element, [0]"
                        }
                    ))
                    .into());
            }
        }
        for rec in &recs {
            rec.clean()?;
        }
        Ok(())
    })
}

fn slowest_holds_back<P>(suite: &ProcessorSuite<P>, ctx: &Arc<Ctx>) -> Checked
where
    P: Subscriber<u64> + Publisher<Item = u64> + Clone + 'static,
{
    let policy = suite.multicast;
    on_both_paths(ctx, || {
        let [fast, slow] = two_subscribers(suite, ctx, Upstream::never_completing(20))?;
        fast.request(10);
        slow.request(2);
        slow.expect_count(2)?;
        fast.settle();
        for rec in [&fast, &slow] {
            rec.clean()?;
        }
        let got = fast.received();
        match policy {
            Multicast::SlowestHoldsBack if got != 2 => {
                return Err(fast
                    .fail(format!(
                        "the faster subscriber asked for 10 and the slower for 2; the faster received {got}, where the slower's demand should have held it at 2 (Multicast::SlowestHoldsBack)"
                    ))
                    .into());
            }
            Multicast::Buffered(n) if got > 2u64.saturating_add(n) || got < 2 => {
                return Err(fast
                    .fail(format!(
                        "the faster subscriber asked for 10 and the slower for 2; the faster received {got}, where Multicast::Buffered({n}) allows from 2 to {}",
                        2u64.saturating_add(n).min(10)
                    ))
                    .into());
            }
            Multicast::DropsForSlow => {
                fast.expect_count(10).map_err(|mut f| {
                    f.message = format!(
                        "the faster subscriber was held back by the slower one, which Multicast::DropsForSlow does not allow: {}",
                        f.message
                    );
                    f
                })?;
            }
            _ => {}
        }
        // The slower subscriber catches up: both see the same elements, in order (a hot
        // processor: each sees an increasing part of them).
        slow.request(8);
        slow.expect_count(10)?;
        fast.expect_count(10)?;
        let (a, b) = (fast.lock().values.clone(), slow.lock().values.clone());
        let in_order = |v: &[u64]| v.windows(2).all(|w| w[0] < w[1]);
        let same = policy != Multicast::DropsForSlow;
        if (same && (a != b || a != (0..10).collect::<Vec<_>>())) || !in_order(&a) || !in_order(&b)
        {
            return Err(slow
                .fail(format!(
                    "the two subscribers received {a:?} and {b:?}; expected {} (policy {policy:?})",
                    if same {
                        "both 0..10 in order"
                    } else {
                        "an increasing part of 0..20 each"
                    }
                ))
                .into());
        }
        for rec in [&fast, &slow] {
            rec.clean()?;
        }
        Ok(())
    })
}

fn error_reaches_both<P>(suite: &ProcessorSuite<P>, ctx: &Arc<Ctx>) -> Checked
where
    P: Subscriber<u64> + Publisher<Item = u64> + Clone + 'static,
{
    on_both_paths(ctx, || {
        let up = Upstream::failing_after(0, Error::msg("tck: upstream failure"));
        let recs = two_subscribers(suite, ctx, up)?;
        for (i, rec) in recs.iter().enumerate() {
            rec.expect_error(&format!(
                "upstream failed, and subscriber {} of 2 (with no demand) must hear of it",
                i + 1
            ))?;
            rec.clean()?;
        }
        Ok(())
    })
}
