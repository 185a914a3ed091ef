//! Values that reject in Defender's words: file hashes, domain names, IP addresses, URLs and
//! bounded batches.
//!
//! Each parses from a string ([`FromStr`], its error an [`ApiError`]) and deserializes with
//! serde, so that it can be a path segment, a query parameter or a field of a JSON body. The
//! crate's extractors (`extract::Path`, `Query`, `Json`, feature `axum`) answer a bad value
//! with its kind and message (seed `002`):
//!
//! | value | kind (400) | message |
//! |---|---|---|
//! | [`FileHash`] | `InvalidHashValue` | `Hash value xyz is invalid.` |
//! | [`DomainName`] | `InvalidDomainName` | `Domain name -bad- is invalid.` |
//! | [`IpAddress`] | `InvalidIpAddress` | `IP address 999.1.1.1 is invalid.` |
//! | [`Url`] | `InvalidUrl` | `URL ftp:/x is invalid.` |
//! | [`Batch`] | `MaximumBatchSizeExceeded` | `Maximum batch size exceeded. Received: 501, allowed: 500.` |
//!
//! The invalid input is echoed through [`echo`]: bounded and without control characters.
//!
//! ```
//! use tower_envelope::values::{FileHash, IpAddress};
//! use tower_envelope::ErrorKind;
//!
//! let hash: FileHash = "44d88612fea8a8f36de82e1278abb02f".parse().unwrap();
//! assert_eq!(hash.algorithm(), "MD5");
//! let error = "xyz".parse::<FileHash>().unwrap_err();
//! assert_eq!(error.kind(), ErrorKind::InvalidHashValue);
//! assert_eq!(error.message(), "Hash value xyz is invalid.");
//! let error = "999.1.1.1".parse::<IpAddress>().unwrap_err();
//! assert_eq!(error.message(), "IP address 999.1.1.1 is invalid.");
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::ops::Deref;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};

use crate::error::{echo, ApiError, ErrorKind};

/// The kind a value's error message stands for: the messages of this module's values, read
/// back when serde hands them over as a custom error.
pub(crate) fn kind_of_message(message: &str) -> Option<ErrorKind> {
    let ends = |prefix: &str, kind| {
        (message.starts_with(prefix) && message.ends_with(" is invalid.")).then_some(kind)
    };
    ends("Hash value ", ErrorKind::InvalidHashValue)
        .or_else(|| ends("Domain name ", ErrorKind::InvalidDomainName))
        .or_else(|| ends("IP address ", ErrorKind::InvalidIpAddress))
        .or_else(|| ends("URL ", ErrorKind::InvalidUrl))
        .or_else(|| {
            message
                .starts_with("Maximum batch size exceeded. Received: ")
                .then_some(ErrorKind::MaximumBatchSizeExceeded)
        })
}

fn invalid(kind: ErrorKind, what: &str, input: &str) -> ApiError {
    ApiError::new(kind, format!("{what} {} is invalid.", echo(input)))
}

/// A value parsed from a string, deserialized through [`FromStr`].
macro_rules! deserialize_from_str {
    ($value:ty, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $value {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Parse;
                impl Visitor<'_> for Parse {
                    type Value = $value;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, value: &str) -> Result<$value, E> {
                        value.parse().map_err(|e: ApiError| E::custom(e.message()))
                    }
                }
                deserializer.deserialize_str(Parse)
            }
        }
    };
}

/// A file hash as Defender's file APIs take it: MD5, SHA-1 or SHA-256, in hex (either case).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileHash(String);

impl FileHash {
    /// `"MD5"`, `"SHA-1"` or `"SHA-256"`.
    pub fn algorithm(&self) -> &'static str {
        match self.0.len() {
            32 => "MD5",
            40 => "SHA-1",
            _ => "SHA-256",
        }
    }

    /// The hash in lowercase hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for FileHash {
    type Err = ApiError;

    fn from_str(input: &str) -> Result<Self, ApiError> {
        let hex = input.bytes().all(|b| b.is_ascii_hexdigit());
        if hex && matches!(input.len(), 32 | 40 | 64) {
            Ok(Self(input.to_ascii_lowercase()))
        } else {
            Err(invalid(ErrorKind::InvalidHashValue, "Hash value", input))
        }
    }
}

deserialize_from_str!(FileHash, "an MD5, SHA-1 or SHA-256 hash in hex");

/// A domain name: labels of letters, digits and inner hyphens, at most 63 bytes each and 253
/// in all, the last not all digits; an internationalized name is accepted and kept in its
/// ASCII (Punycode) form, by UTS #46 with the strict rules (`idna`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DomainName(String);

impl DomainName {
    /// The name in ASCII, lowercase (`xn--` labels for internationalized ones).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DomainName {
    type Err = ApiError;

    fn from_str(input: &str) -> Result<Self, ApiError> {
        let ascii = idna::domain_to_ascii_strict(input).ok().filter(|ascii| {
            let last = ascii.rsplit('.').next().unwrap_or_default();
            !ascii.is_empty() && !last.bytes().all(|b| b.is_ascii_digit())
        });
        ascii
            .map(Self)
            .ok_or_else(|| invalid(ErrorKind::InvalidDomainName, "Domain name", input))
    }
}

deserialize_from_str!(DomainName, "a domain name");

/// An IPv4 or IPv6 address, in the standard notation (no leading zeros, no zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpAddress(pub IpAddr);

impl FromStr for IpAddress {
    type Err = ApiError;

    fn from_str(input: &str) -> Result<Self, ApiError> {
        input
            .parse()
            .map(Self)
            .map_err(|_| invalid(ErrorKind::InvalidIpAddress, "IP address", input))
    }
}

deserialize_from_str!(IpAddress, "an IP address");

/// An absolute `http` or `https` URL with a host (WHATWG parsing, `url`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Url(pub url::Url);

impl FromStr for Url {
    type Err = ApiError;

    fn from_str(input: &str) -> Result<Self, ApiError> {
        url::Url::parse(input)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .map(Self)
            .ok_or_else(|| invalid(ErrorKind::InvalidUrl, "URL", input))
    }
}

deserialize_from_str!(Url, "an http or https URL");

macro_rules! deref_value {
    ($value:ty, $target:ty) => {
        impl Deref for $value {
            type Target = $target;
            fn deref(&self) -> &$target {
                &self.0
            }
        }
    };
}

deref_value!(FileHash, str);
deref_value!(DomainName, str);
deref_value!(IpAddress, IpAddr);
deref_value!(Url, url::Url);

/// A list of at most `MAX` items, as Defender's batch APIs take (`Json<Import>` with an
/// `Indicators: Batch<Indicator, 500>` field): a longer one is refused
/// `MaximumBatchSizeExceeded` "Maximum batch size exceeded. Received: 501, allowed: 500.", the
/// items past the maximum counted but not kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch<T, const MAX: usize>(pub Vec<T>);

impl<T, const MAX: usize> Batch<T, MAX> {
    /// The items.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }

    /// The error for a batch of `received` items.
    pub fn too_large(received: usize) -> ApiError {
        let message = format!("Maximum batch size exceeded. Received: {received}, allowed: {MAX}.");
        ApiError::new(ErrorKind::MaximumBatchSizeExceeded, message)
    }
}

impl<T, const MAX: usize> Deref for Batch<T, MAX> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for Batch<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Items<T, const MAX: usize>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for Items<T, MAX> {
            type Value = Batch<T, MAX>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list of at most {MAX} items")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX));
                while items.len() < MAX {
                    match seq.next_element()? {
                        Some(item) => items.push(item),
                        None => return Ok(Batch(items)),
                    }
                }
                let mut received = MAX;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    received += 1;
                }
                if received > MAX {
                    let error = Batch::<T, MAX>::too_large(received);
                    return Err(de::Error::custom(error.message()));
                }
                Ok(Batch(items))
            }
        }

        deserializer.deserialize_seq(Items(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_md5_sha1_or_sha256_hex() {
        let sha256 = "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F";
        assert_eq!(sha256.parse::<FileHash>().unwrap().algorithm(), "SHA-256");
        assert_eq!(
            "3395856ce81f2b7382dee72602f798b642f14140"
                .parse::<FileHash>()
                .unwrap()
                .algorithm(),
            "SHA-1"
        );
        for bad in [
            "",
            "xyz",
            "44d88612fea8a8f36de82e1278abb02",
            &format!("{sha256}0"),
        ] {
            let error = bad.parse::<FileHash>().unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidHashValue, "{bad}");
        }
    }

    #[test]
    fn domains_follow_the_label_rules_and_idna() {
        for good in [
            "example.com",
            "a-b.example.co.uk",
            "localhost",
            "EXAMPLE.com",
        ] {
            assert!(good.parse::<DomainName>().is_ok(), "{good}");
        }
        assert_eq!(
            "bücher.example".parse::<DomainName>().unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = ["a".repeat(63).as_str(); 5].join(".");
        for bad in [
            "-bad-",
            "a..b",
            "a_b.com",
            "exa mple.com",
            "1.2.3.4",
            "",
            &long_label,
            &long_name,
        ] {
            let error = bad.parse::<DomainName>().unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidDomainName, "{bad}");
        }
        assert_eq!(
            "-bad-".parse::<DomainName>().unwrap_err().message(),
            "Domain name -bad- is invalid."
        );
    }

    #[test]
    fn ips_and_urls() {
        assert!("192.0.2.1".parse::<IpAddress>().is_ok());
        assert!("2001:db8::1".parse::<IpAddress>().is_ok());
        for bad in ["999.1.1.1", "1.2.3", "01.2.3.4", "fe80::1%eth0", "x"] {
            let error = bad.parse::<IpAddress>().unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidIpAddress, "{bad}");
        }
        assert!("https://example.com/a?b=c".parse::<Url>().is_ok());
        for bad in [
            "example.com",
            "ftp://example.com/",
            "https://",
            "javascript:alert(1)",
        ] {
            let error = bad.parse::<Url>().unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidUrl, "{bad}");
        }
    }

    #[test]
    fn a_batch_counts_past_its_maximum() {
        let ok: Batch<u8, 3> = serde_json::from_str("[1,2,3]").unwrap();
        assert_eq!(ok.0, [1, 2, 3]);
        let error = serde_json::from_str::<Batch<u8, 3>>("[1,2,3,4,5]").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("Maximum batch size exceeded. Received: 5, allowed: 3."),
            "{message}"
        );
        assert_eq!(
            kind_of_message("Maximum batch size exceeded. Received: 5, allowed: 3."),
            Some(ErrorKind::MaximumBatchSizeExceeded)
        );
        assert_eq!(
            kind_of_message("Hash value x is invalid."),
            Some(ErrorKind::InvalidHashValue)
        );
        assert_eq!(kind_of_message("something else"), None);
    }
}
