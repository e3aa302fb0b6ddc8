// Copyright 2024 Saorsa Labs Ltd.
//
// This Saorsa Network Software is licensed under the General Public License (GPL), version 3.
// Please see the file LICENSE-GPL, or visit <http://www.gnu.org/licenses/> for the full text.
//
// Full details available at https://saorsalabs.com/licenses

//! Windows Network Discovery Implementation
//!
//! This module implements network interface discovery for Windows using the
//! IP Helper API. It provides comprehensive error handling and interface caching.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use windows::Win32::NetworkManagement::IpHelper;
use windows::Win32::Networking::WinSock;

use super::{DiscoveryError, NetworkDiscovery, NetworkInterface};

/// Windows-specific network discovery implementation
pub struct WindowsDiscovery {
    // Cache of discovered interfaces
    cache: Option<InterfaceCache>,
    // Cache refresh interval
    cache_refresh_interval: Duration,
}

/// Cache for network interfaces
struct InterfaceCache {
    // Cached interfaces
    interfaces: Vec<NetworkInterface>,
    // Last refresh time
    last_refresh: Instant,
}

impl WindowsDiscovery {
    /// Create a new Windows discovery instance
    pub fn new(cache_refresh_interval: Duration) -> Self {
        Self {
            cache: None,
            cache_refresh_interval,
        }
    }

    /// Refresh the interface cache if needed
    fn refresh_cache_if_needed(&mut self) -> Result<(), DiscoveryError> {
        let should_refresh = match &self.cache {
            Some(cache) => cache.last_refresh.elapsed() >= self.cache_refresh_interval,
            None => true,
        };

        if should_refresh {
            self.refresh_cache()?;
        }

        Ok(())
    }

    /// Force refresh the interface cache
    fn refresh_cache(&mut self) -> Result<(), DiscoveryError> {
        // Placeholder - actual implementation would use Windows IP Helper API
        let interfaces = self.get_interfaces_from_system()?;

        self.cache = Some(InterfaceCache {
            interfaces,
            last_refresh: Instant::now(),
        });

        Ok(())
    }

    /// Get interfaces from the system using Windows IP Helper API
    fn get_interfaces_from_system(&self) -> Result<Vec<NetworkInterface>, DiscoveryError> {
        // Placeholder - actual implementation would use Windows IP Helper API
        // to enumerate network interfaces and their addresses

        Ok(Vec::new())
    }
}

impl NetworkDiscovery for WindowsDiscovery {
    fn discover_interfaces(&self) -> Result<Vec<NetworkInterface>, DiscoveryError> {
        // Use cached interfaces if available and not expired
        if let Some(cache) = &self.cache {
            if cache.last_refresh.elapsed() < self.cache_refresh_interval {
                return Ok(cache.interfaces.clone());
            }
        }

        // Otherwise, refresh the cache (only if needed)
        let mut this = self.clone();
        this.refresh_cache_if_needed()?;

        // Return the refreshed interfaces
        match &this.cache {
            Some(cache) => Ok(cache.interfaces.clone()),
            None => Err(DiscoveryError::InternalError("Cache refresh failed".into())),
        }
    }

    fn get_default_route(&self) -> Result<Option<SocketAddr>, DiscoveryError> {
        // Placeholder - actual implementation would determine the default route
        // using the Windows IP Helper API

        Ok(None)
    }
}

impl Clone for WindowsDiscovery {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
            cache_refresh_interval: self.cache_refresh_interval,
        }
    }
}

impl Clone for InterfaceCache {
    fn clone(&self) -> Self {
        Self {
            interfaces: self.interfaces.clone(),
            last_refresh: self.last_refresh,
        }
    }
}
