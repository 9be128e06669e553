//! The host's side of [`RegistryAbi`]: where an instance's init puts its handlers.

use std::sync::Arc;

use hookgate_plugin_api::abi::abi_stable::library::LibHeader;
use hookgate_plugin_api::abi::{
    ForwardHandlerBox, HostLogBox, HostMetricBox, HostMetric_TO, MetricDef, PointCode, RResult,
    RString, RegistryAbi, RequestHandlerBox, ResponseHandlerBox, SessionHandlerBox, TD_Opaque,
};
use hookgate_plugin_api::{AcceptPoint, Point, RequestPoint, ResponsePoint};

use super::chain::{Chain, Chains, Link};
use super::instance::Instance;
use super::metric_store::StagedMetrics;

/// Appends one instance's handlers to the chains, in registration order, and notes a
/// registration at a point the manifest does not declare.
pub(crate) struct Collector<'c> {
    pub(crate) instance: Arc<Instance>,
    pub(crate) chains: &'c mut Chains,
    pub(crate) undeclared: Option<Point>,
    /// A registration at a point this version does not know, or of another handler
    /// type: why it was refused.
    pub(crate) refused: Option<String>,
    /// The metrics of the plugin set being loaded.
    pub(crate) metrics: &'c mut StagedMetrics,
}

impl Collector<'_> {
    /// The typed point a registration names; `None` (noting why) if refused.
    fn typed<P: TryFrom<Point>>(&mut self, code: PointCode) -> Option<P> {
        match hookgate_plugin_api::settle::point_of::<P>(code) {
            Ok(point) => Some(point),
            Err(message) => {
                self.refused.get_or_insert(message);
                None
            }
        }
    }

    fn push<H>(
        instance: &Arc<Instance>,
        undeclared: &mut Option<Point>,
        chain: &mut Chain<H>,
        point: Point,
        handler: H,
    ) {
        if hookgate_plugin_api::settle::undeclared(point, instance.manifest.points).is_some() {
            undeclared.get_or_insert(point);
            return;
        }
        chain.push(Link {
            handler,
            instance: Arc::clone(instance),
        });
    }
}

impl RegistryAbi for Collector<'_> {
    fn instance(&self) -> u32 {
        self.instance.id
    }

    fn host(&self) -> hookgate_plugin_api::abi::RRef<'static, LibHeader> {
        hookgate_plugin_api::abi::host_header(super::wait::SERVICES)
    }

    fn logger(&self) -> HostLogBox {
        super::log::InstanceLog::boxed(&self.instance.name)
    }

    fn metric(&mut self, def: MetricDef<'_>) -> RResult<HostMetricBox, RString> {
        let store = super::metric_store::store();
        match self.metrics.family(store, &self.instance.name, &def) {
            Ok(family) => RResult::ROk(HostMetric_TO::from_value(family, TD_Opaque)),
            Err(e) => RResult::RErr(e.into()),
        }
    }

    fn accept(&mut self, point: PointCode, handler: SessionHandlerBox) {
        let Some(point) = self.typed::<AcceptPoint>(point) else {
            return;
        };
        let chain = self.chains.accept_mut(point);
        Self::push(
            &self.instance,
            &mut self.undeclared,
            chain,
            point.into(),
            handler,
        )
    }

    fn request(&mut self, point: PointCode, handler: RequestHandlerBox) {
        let Some(point) = self.typed::<RequestPoint>(point) else {
            return;
        };
        let chain = self.chains.request_mut(point);
        Self::push(
            &self.instance,
            &mut self.undeclared,
            chain,
            point.into(),
            handler,
        )
    }

    fn forward(&mut self, handler: ForwardHandlerBox) {
        let chain = self.chains.forward_mut();
        Self::push(
            &self.instance,
            &mut self.undeclared,
            chain,
            Point::Forward,
            handler,
        )
    }

    fn response(&mut self, point: PointCode, handler: ResponseHandlerBox) {
        let Some(point) = self.typed::<ResponsePoint>(point) else {
            return;
        };
        let chain = self.chains.response_mut(point);
        Self::push(
            &self.instance,
            &mut self.undeclared,
            chain,
            point.into(),
            handler,
        )
    }

    fn finish(&mut self, handler: SessionHandlerBox) {
        let chain = self.chains.finish_mut();
        Self::push(
            &self.instance,
            &mut self.undeclared,
            chain,
            Point::Finish,
            handler,
        )
    }
}
